module gantry.dev/examples/echo-go

go 1.21

require gantry.dev/provider v0.0.0

replace gantry.dev/provider => ../sdk/go
