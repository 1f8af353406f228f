/* What every fuzz target shares: APR, initialised once. */
#ifndef VV_FUZZ_H
#define VV_FUZZ_H

#include <apr_general.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    return 0;
}

#endif
