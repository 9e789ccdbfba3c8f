// Inside the C ABI shims only: a C++ exception must never cross into C (it would terminate the process),
// so every entry point runs its body through paddler_guard, which turns any throw into a status and a
// message in the caller's buffer.
#ifndef PADDLER_GUARD_HPP
#define PADDLER_GUARD_HPP

#include <cstdio>
#include <exception>

#include "paddler/paddler_sampling.h"

inline void paddler_write_error(char * error_buffer, size_t error_buffer_size, const char * message) {
    if (error_buffer != nullptr && error_buffer_size > 0) {
        std::snprintf(error_buffer, error_buffer_size, "%s", message);
    }
}

// `body` returns a paddler_status; an exception it throws becomes PADDLER_STATUS_EXCEPTION.
template <typename Body>
paddler_status paddler_guard(char * error_buffer, size_t error_buffer_size, Body && body) {
    try {
        return body();
    } catch (const std::exception & exception) {
        paddler_write_error(error_buffer, error_buffer_size, exception.what());
    } catch (...) {
        paddler_write_error(error_buffer, error_buffer_size, "unknown C++ exception");
    }
    return PADDLER_STATUS_EXCEPTION;
}

#endif
