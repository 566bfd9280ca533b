"""One module per `pssr-live` sub-command: each has NAME, HELP, add_arguments and main."""
