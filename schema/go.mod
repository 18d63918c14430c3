module github.com/healthexport/schema

go 1.26
