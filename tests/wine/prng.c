/* Test-only stand-in for bcryptprimitives.dll, which Wine gained in 8.13: Debian 12's
 * Wine 8.0 lacks it, and Rust's standard library (1.78 and later) imports its ProcessPrng
 * on Windows, so without it every Rust program exits at once (status 53). This DLL
 * implements ProcessPrng over advapi32's SystemFunction036 (RtlGenRandom), which Wine
 * 8.0 has. tests/windows.rs builds it with x86_64-w64-mingw32-gcc into the system32 of a
 * fresh WINEPREFIX in a temporary directory. It is never shipped: real Windows has the
 * DLL. */
#include <windows.h>

typedef BOOLEAN(WINAPI *rtl_gen_random)(PVOID, ULONG);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    static rtl_gen_random gen = 0;
    if (!gen) {
        HMODULE advapi = LoadLibraryA("advapi32.dll");
        if (!advapi)
            return FALSE;
        gen = (rtl_gen_random)GetProcAddress(advapi, "SystemFunction036");
    }
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!gen || !gen(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
