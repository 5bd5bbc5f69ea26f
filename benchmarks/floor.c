/* The benchmark's floor: the same functions written against the CPython C API (METH_FASTCALL),
 * compiled by `python -m greeter bench` into a temporary directory. Never part of greeter's
 * product path: greeter itself reaches Rust through cffi only.
 *
 *   add(a, b)         pure C: a + b for i32, OverflowError otherwise
 *   greet(name)       pure C: encode, build "Hello, {name}!" in a malloc'd buffer, decode, free
 *   rust_add(a, b)    the C extension calling the Rust library (greeter_add_numbers)
 *   rust_greet(name)  encode, greeter_greet (a Rust allocation), decode, greeter_string_free
 *   rust_live()       greeter_live_strings(): the bare cost of a call, for the overhead rows
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "greeter.h"

static int to_i32(PyObject *obj, int32_t *out) {
    int overflow = 0;
    long value = PyLong_AsLongAndOverflow(obj, &overflow);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow || value < INT32_MIN || value > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "argument does not fit in i32");
        return -1;
    }
    *out = (int32_t)value;
    return 0;
}

static PyObject *floor_add(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int32_t a, b;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add takes 2 arguments");
        return NULL;
    }
    if (to_i32(args[0], &a) < 0 || to_i32(args[1], &b) < 0) {
        return NULL;
    }
    int64_t sum = (int64_t)a + (int64_t)b;
    if (sum < INT32_MIN || sum > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "sum does not fit in i32");
        return NULL;
    }
    return PyLong_FromLong((long)sum);
}

static PyObject *floor_rust_add(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int32_t a, b;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "rust_add takes 2 arguments");
        return NULL;
    }
    if (to_i32(args[0], &a) < 0 || to_i32(args[1], &b) < 0) {
        return NULL;
    }
    int64_t sum = greeter_add_numbers(a, b);
    if (sum == GREETER_FAILED) {
        /* The failure waits in this thread's status: take it, as every caller must, so that
         * it is not read as the status of a later call on this thread. */
        GreeterStatus status = {0};
        greeter_status_take_thread(&status);
        greeter_status_clear(&status);
        PyErr_SetString(PyExc_OverflowError, "sum does not fit in i32");
        return NULL;
    }
    return PyLong_FromLongLong(sum);
}

/* A new bytes object holding the UTF-8 of the one str argument (a real encode each call: the
 * str's cached UTF-8 would make repeated calls on one name free). */
static PyObject *encode_arg(PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 1 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "name must be str");
        return NULL;
    }
    return PyUnicode_AsUTF8String(args[0]);
}

static PyObject *floor_greet(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *data = encode_arg(args, nargs);
    if (data == NULL) {
        return NULL;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    if (memchr(PyBytes_AS_STRING(data), 0, (size_t)len) != NULL) {
        Py_DECREF(data);
        PyErr_SetString(PyExc_ValueError, "name contains NUL");
        return NULL;
    }
    char *out = malloc((size_t)len + 9);
    if (out == NULL) {
        Py_DECREF(data);
        return PyErr_NoMemory();
    }
    memcpy(out, "Hello, ", 7);
    memcpy(out + 7, PyBytes_AS_STRING(data), (size_t)len);
    out[len + 7] = '!';
    out[len + 8] = '\0';
    Py_DECREF(data);
    PyObject *result = PyUnicode_DecodeUTF8(out, len + 8, "strict");
    free(out);
    return result;
}

static PyObject *floor_rust_greet(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *data = encode_arg(args, nargs);
    if (data == NULL) {
        return NULL;
    }
    size_t out_len = 0;
    char *out = greeter_greet(PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data), &out_len);
    Py_DECREF(data);
    if (out == NULL) {
        PyErr_SetString(PyExc_ValueError, "greeter_greet failed");
        return NULL;
    }
    PyObject *result = PyUnicode_DecodeUTF8(out, (Py_ssize_t)out_len, "strict");
    greeter_string_free(out);
    return result;
}

static PyObject *floor_rust_live(PyObject *self, PyObject *unused) {
    return PyLong_FromLongLong(greeter_live_strings());
}

static PyMethodDef floor_methods[] = {
    {"rust_live", floor_rust_live, METH_NOARGS, "greeter_live_strings: a call and nothing else"},
    {"add", (PyCFunction)(void (*)(void))floor_add, METH_FASTCALL, "a + b for i32 (pure C)"},
    {"greet", (PyCFunction)(void (*)(void))floor_greet, METH_FASTCALL, "Hello, name! (pure C)"},
    {"rust_add", (PyCFunction)(void (*)(void))floor_rust_add, METH_FASTCALL,
     "greeter_add_numbers"},
    {"rust_greet", (PyCFunction)(void (*)(void))floor_rust_greet, METH_FASTCALL,
     "greeter_greet + greeter_string_free"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef floor_module = {
    PyModuleDef_HEAD_INIT, "_greeter_bench_floor", "greeter benchmark floor (C API)", -1,
    floor_methods,
};

PyMODINIT_FUNC PyInit__greeter_bench_floor(void) { return PyModule_Create(&floor_module); }
