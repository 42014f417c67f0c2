module gantry.dev/provider

go 1.21
