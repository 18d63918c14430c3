module github.com/healthexport/services/raw-archiver

go 1.26

require (
	github.com/healthexport/libs v0.0.0
	github.com/healthexport/migrations v0.0.0
)

replace (
	github.com/healthexport/libs => ../../libs
	github.com/healthexport/migrations => ../../migrations
)
