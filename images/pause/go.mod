module gantry.local/images/pause

go 1.21
