/* cmd_convert.c — `gpt2rank convert`: rewrite a model's weights in another dtype. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_convert(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_usage_error("convert", "not implemented yet");
}
