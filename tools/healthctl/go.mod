module github.com/healthexport/tools/healthctl

go 1.26.0

require (
	github.com/healthexport/libs v0.0.0
	github.com/healthexport/migrations v0.0.0
)

require github.com/alecthomas/kong v1.17.0 // indirect

replace (
	github.com/healthexport/libs => ../../libs
	github.com/healthexport/migrations => ../../migrations
)
