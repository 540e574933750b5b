"""User strategies in the engine: bounds-checked compiles, declared state layouts, their kernels.

Two forms reach here. A *raw* signal has the shared signature of `strategies_nb` and sizes its own
state (`state_size`); the engine runs a copy compiled with `boundscheck=True`, so an index past its
state or parameters raises before anything is written, and `run.py` turns that into one line naming
the strategy and the fix. A *declared* strategy (`hft.strategy`) names its parameters, scalars and
windows; `Layout` derives every offset and size from that declaration, and the user's function sees

    fn(t, bid, ask, pos, s, w, p, quotes) -> target lots

with `s` a record of its scalars (`s.name = x`), `w` a named tuple of its windows (arrays handled by
`windows_nb`), `p` a named tuple of its parameters. All of them are views into the run's own `ss` /
`sp` rows, built once per run, so chunking changes nothing and nothing is copied per tick.
"""

from __future__ import annotations

import collections
import functools
import re
from dataclasses import dataclass

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from hft.engine import windows_nb as W
from hft.engine.enums import TARGET_NONE
from hft.engine.loop_nb import _array_load, _array_save, run_loop_nb
from hft.errors import EngineError

__all__ = [
    "Layout",
    "checked_copy",
    "user_kernel",
    "inlined_copy",
    "indexes_memory",
    "probe",
    "oob_message",
    "where",
    "HIDDEN_ERR",
    "GUARD",
    "GUARD_VALUE",
]

#: Cells after every user state row, filled with `GUARD_VALUE` and checked after each chunk.
GUARD = 8
GUARD_VALUE = -7.77e307
#: Hidden scalar set by the kernel when a declared non-quoting strategy returns TARGET_NONE.
HIDDEN_ERR = "_err"


@functools.cache
def checked_copy(fn):
    """The same Python function compiled again with bounds checks (never cached on disk)."""
    py = getattr(fn, "py_func", fn)
    return njit(boundscheck=True)(py)


@dataclass(frozen=True)
class Layout:
    """Where each declared name lives in the flat `sp` / `ss` vectors.

    `params`: (name, is_int) in encoding order; `scalars`: (name, initial value); `windows`:
    (name, capacity parameter or int, span seconds parameter / float or None for a tick window).
    """

    params: tuple[tuple[str, bool], ...]
    scalars: tuple[tuple[str, float], ...]
    windows: tuple[tuple[str, object, object], ...]

    @functools.cached_property
    def scalar_dtype(self) -> np.dtype:
        return np.dtype([(name, "<f8") for name, _ in self.scalars] + [(HIDDEN_ERR, "<f8")])

    @functools.cached_property
    def param_type(self):
        return collections.namedtuple("Params", [n for n, _ in self.params] or ["none"])

    @functools.cached_property
    def window_type(self):
        return collections.namedtuple("Windows", [n for n, _, _ in self.windows] or ["none"])

    def _value(self, sp: np.ndarray, ref) -> float:
        if isinstance(ref, str):
            return float(sp[[n for n, _ in self.params].index(ref)])
        return float(ref)

    def caps(self, sp: np.ndarray) -> list[int]:
        return [int(self._value(sp, cap)) for _, cap, _ in self.windows]

    def state_size(self, sp: np.ndarray) -> int:
        return len(self.scalar_dtype) + sum(W.window_size(c) for c in self.caps(sp))

    def bind(self, ss: np.ndarray, sp: np.ndarray, fresh: bool):
        """(record, windows, params) viewing the row `ss` with parameters `sp`; `fresh` writes the
        initial values and window headers (a new run)."""
        ns = len(self.scalar_dtype)
        rec = ss[:ns].view(self.scalar_dtype)[0]
        if fresh:
            for name, init in self.scalars:
                rec[name] = init
            rec[HIDDEN_ERR] = 0.0
        views = []
        at = ns
        for (_, _, span), cap in zip(self.windows, self.caps(sp), strict=True):
            w = ss[at : at + W.window_size(cap)]
            at += W.window_size(cap)
            if fresh:
                w[W.W_CAP] = cap
                w[W.W_SPAN] = 0.0 if span is None else self._value(sp, span) * 1000.0
            views.append(w)
        prm = self.param_type(
            *[int(v) if is_int else float(v) for (_, is_int), v in zip(self.params, sp, strict=False)] or [0]
        )
        return rec, self.window_type(*views) if views else self.window_type(np.zeros(0)), prm

    def overflowed(self, ss: np.ndarray, sp: np.ndarray) -> str | None:
        """Name of a time window that needed more than its capacity, if any."""
        at = len(self.scalar_dtype)
        for (name, _, _), cap in zip(self.windows, self.caps(sp), strict=True):
            if ss[at + W.W_OVER] != 0.0:
                return name
            at += W.window_size(cap)
        return None


@functools.cache
def inlined_copy(fn):
    """The same Python function, to be inlined into the loop (a call per tick costs ~4x)."""
    py = getattr(fn, "py_func", fn)
    return njit(inline="always")(py)


_SUBSCRIPT_OPS = {"BINARY_SUBSCR", "STORE_SUBSCR", "DELETE_SUBSCR", "BINARY_SLICE", "STORE_SLICE"}


def indexes_memory(fn) -> bool:
    """Whether `fn` may index an array itself: it subscripts something, or calls a compiled
    function other than the window helpers. Without either, the only memory it reaches is its record's
    typed fields and the helpers' checked-by-construction windows, so its kernel needs no bounds checks.
    """
    import dis

    py = getattr(fn, "py_func", fn)
    for ins in dis.get_instructions(py):
        if ins.opname in _SUBSCRIPT_OPS:
            return True
        if ins.opname in ("LOAD_GLOBAL", "LOAD_DEREF", "LOAD_NAME"):
            obj = py.__globals__.get(ins.argval)
            if hasattr(obj, "py_func") and obj.py_func.__module__ != W.__name__:
                return True
    return False


@intrinsic
def _data_pointers(typingctx, wins):
    """The windows' data pointers, in a named tuple of the same class (`w.name` still works).

    An array in the per-tick path is reference counted each time a variable takes it (an atomic
    increment and decrement, which were three quarters of a declared SMA cross's time); a raw pointer
    is not. The views stay alive in the caller's `sig` for the whole kernel call, and the helpers
    index only inside `[0, window_size)`, so a strategy that indexes nothing itself loses no check.
    """
    ptr = types.CPointer(types.float64)
    out = types.NamedUniTuple(ptr, len(wins), wins.instance_class)

    def codegen(context, builder, signature, args):
        (tup,) = args
        res = cgutils.get_null_value(context.get_value_type(out))
        for k in range(len(wins)):
            arr = context.make_array(wins[k])(context, builder, builder.extract_value(tup, k))
            res = builder.insert_value(res, arr.data, k)
        return res

    return out(wins), codegen


@intrinsic
def _data_pointer(typingctx, arr):
    """One array's data pointer (as `_data_pointers`)."""

    def codegen(context, builder, signature, args):
        return context.make_array(arr)(context, builder, args[0]).data

    return types.CPointer(arr.dtype)(arr), codegen


@functools.cache
def user_kernel(fn, declared: bool, quoting: bool, force_checked: bool = False):
    """The generic loop with a user's function inlined, compiled with bounds checks throughout.

    `kernel(sig, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check)`: `sig` is the
    declared strategy's (record, windows, params), unused for a raw signal. Compiled once per process.
    """
    inl = inlined_copy(fn)
    checked = force_checked or not declared or indexes_memory(fn)
    if not checked:  # sig = (record, window pointers, params, quotes pointer)

        @njit(inline="always")
        def call(sig, t, b, a, pos, ss, sp, quotes):
            return np.int64(inl(t, b, a, pos, sig[0], sig[1], sig[2], sig[3]))

    elif declared:

        @njit(inline="always")
        def call(sig, t, b, a, pos, ss, sp, quotes):
            return np.int64(inl(t, b, a, pos, sig[0], sig[1], sig[2], quotes))

    else:

        @njit(inline="always")
        def call(sig, t, b, a, pos, ss, sp, quotes):
            return np.int64(inl(t, b, a, pos, ss, sp, quotes))

    if quoting:

        @njit(inline="always")
        def step(sig, st, prm, t, b, a, pos, ss, sp, quotes):
            return st, call(sig, t, b, a, pos, ss, sp, quotes)

    else:

        @njit(inline="always")
        def step(sig, st, prm, t, b, a, pos, ss, sp, quotes):
            r = call(sig, t, b, a, pos, ss, sp, quotes)
            if r == TARGET_NONE:  # only limit-order strategies may; reported after the chunk
                sig[0]._err = 1.0
                r = np.int64(0)
            return st, r

    def loop(sig, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check):
        if check:
            return run_loop_nb(
                step, _array_load, _array_save, sig, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf,
                start, True, quoting,
            )  # fmt: skip
        return run_loop_nb(
            step, _array_load, _array_save, sig, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf,
            start, False, quoting,
        )  # fmt: skip

    if checked:
        kernel = loop
    else:
        loop = njit(inline="always")(loop)

        def kernel(sig, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check):
            # the windows and quotes as raw pointers in the loop (see _data_pointers)
            sig = (sig[0], _data_pointers(sig[1]), sig[2], _data_pointer(quotes))
            return loop(sig, ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check)

    kernel = njit(nogil=True, boundscheck=checked)(kernel)
    kernel.checked = checked
    return kernel


def where(fn) -> str:
    """`file: function` of a strategy's Python source, for error messages."""
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    return f"{code.co_filename if code else '?'}: {getattr(py, '__name__', '?')}"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = ("Failed in nopython mode", "During: ", "Exception origin", "^", "raise ", "<source ")


def compile_message(exc: BaseException) -> str:
    """The one informative line of a Numba typing / lowering error, with its source line if given."""
    if "Handle with contexts" in str(exc):  # a `with` block Numba would lift out of the loop
        return OBJMODE
    lines = [_ANSI.sub("", x).strip() for x in str(exc).splitlines()]
    lines = [x for x in lines if x and not x.startswith(_NOISE)]
    at = next((x for x in lines if x.startswith("File ")), "")
    line = re.search(r"line (\d+)", at)
    what = next((x for x in lines if not x.startswith("File ") and not x.startswith(">")), str(exc))
    what = re.sub(r"\s+", " ", what)[:240]
    return f"{what} (line {line.group(1)})" if line else what


OBJMODE = (
    "a `with` block (numba.objmode) cannot run in a strategy, which is compiled into the engine's "
    "loop: compute the value in the function or keep it in declared state"
)


def uses_objmode(fn) -> bool:
    """Whether `fn` names `numba.objmode` (refused before Numba compiles it, and warns on stderr)."""
    import dis

    from numba.core.withcontexts import objmode_context

    py = getattr(fn, "py_func", fn)
    for ins in dis.get_instructions(py):
        if (
            ins.opname in ("LOAD_GLOBAL", "LOAD_DEREF", "LOAD_NAME")
            and py.__globals__.get(ins.argval) is objmode_context
        ):
            return True
        if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and ins.argval == "objmode":
            return True
    return False


def probe(fn, args, name: str) -> None:
    """Compile `fn` for `args` by calling it once (on scratch state) and check it returns an integer.

    Raises `EngineError` with one line naming the file, the function and the problem.
    """
    from numba import types
    from numba.core.errors import NumbaError

    if uses_objmode(fn):
        raise EngineError(f"{where(fn)}: strategy {name!r} does not compile: {OBJMODE}")
    try:
        fn(*args)
    except NumbaError as exc:
        raise EngineError(f"{where(fn)}: strategy {name!r} does not compile: {compile_message(exc)}") from exc
    except Exception as exc:
        if not fn.overloads:  # Numba itself failed while typing the function
            what = f"{exc!s} is not declared" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
            raise EngineError(f"{where(fn)}: strategy {name!r} does not compile: {what}") from exc
        if isinstance(exc, IndexError):
            raise EngineError(oob_message(fn, name, declared=len(args) == 8)) from exc
        raise EngineError(f"{where(fn)}: strategy {name!r} raised {type(exc).__name__}: {exc}") from exc
    for cres in fn.overloads.values():
        rt = cres.signature.return_type
        if not isinstance(rt, types.Integer):
            raise EngineError(
                f"{where(fn)}: strategy {name!r} returns {rt}, not an integer: return the target "
                "position in lots (-1, 0, +1, ...) or TARGET_NONE, e.g. `return 1` or `return np.int64(x)`"
            )


def oob_message(fn, name: str, declared: bool) -> str:
    fix = (
        "index windows through the hft.strategy helpers (push, ago, mean, ...) or keep indices below len(w)"
        if declared
        else "make state_size() return every slot the signal uses (e.g. 2 + lookback) and read only "
        "the parameters encode() writes, or declare named state with hft.strategy"
    )
    return (
        f"{where(fn)}: strategy {name!r} indexed outside its state or parameters "
        f"(stopped before writing there): {fix}"
    )
