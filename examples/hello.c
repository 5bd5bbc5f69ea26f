/*
 * greeter's C ABI from C (C89 or later; this file is also valid C++, where the header's
 * extern "C" block does the rest).
 *
 * Build and run against the library the installed Python package ships:
 *
 *   INC=$(python -P -c 'import greeter; print(greeter.include_dir())')
 *   LIB=$(python -P -c 'import greeter; print(greeter.library_path().parent)')
 *   cc -std=c99 -Wall -Wextra -pedantic -I"$INC" examples/hello.c \
 *      -L"$LIB" -lgreeter -Wl,-rpath,"$LIB" -o hello
 *   ./hello
 *
 * -lgreeter links libgreeter.so; the rpath lets ./hello find it at run time (or set
 * LD_LIBRARY_PATH instead). -std=c89 works too, and a C++ compiler takes the same line with
 * -std=c++11.
 */
#include <stdio.h>

#include "greeter.h"

int main(void) {
    GreeterStatus status = {GREETER_OK, NULL}; /* caller-owned error channel */
    const char bad_utf8[] = {'A', (char)0xff};
    size_t len = 0;
    char *text;

    printf("%d\n", (int)add_numbers(3, 5));

    text = greet("Alice"); /* owned by us: free it once, with free_string */
    if (text == NULL) {
        return 1;
    }
    printf("%s\n", text);
    free_string(text);

    text = greeter_greet("Bob", 3, &len); /* explicit length, NULL on failure */
    if (text == NULL) {
        return 1;
    }
    printf("%s (%d bytes)\n", text, (int)len);
    greeter_string_free(text);

    text = greeter_greet(bad_utf8, sizeof bad_utf8, &len);
    if (text == NULL) {
        greeter_status_take_thread(&status); /* why: this thread's latest failure */
        printf("error %d: %s\n", (int)status.code, status.message);
        greeter_status_clear(&status); /* frees the message */
    }

    printf("library %s, live strings %ld\n", greeter_version(), (long)greeter_live_strings());
    return greeter_live_strings() == 0 ? 0 : 1;
}
