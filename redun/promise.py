"""Promise: a result that will be known later (upstream's `redun.promise` API).

Scheduler tasks (`@scheduler_task`) are written against this class: they call
`scheduler.evaluate(expr, parent_job)`, chain `.then()` / `.catch()` on the
Promise it returns, and return a Promise of their own result. Callbacks run
synchronously on the thread that settles the promise (the scheduler's), in
the order they were attached; a callback that returns a Promise is chained,
so the derived promise settles when that one does.
"""

from typing import Any, Callable, Optional, Sequence

_PENDING, _FULFILLED, _REJECTED = 0, 1, 2


class Promise:
    """A settable result with `then`/`catch` chaining (upstream redun.promise.Promise)."""

    __slots__ = ("_state", "_result", "_resolvers", "_rejectors")

    def __init__(self, func: Optional[Callable] = None):
        self._state = _PENDING
        self._result: Any = None
        self._resolvers: list = []
        self._rejectors: list = []
        if func is not None:
            try:
                func(self.do_resolve, self.do_reject)
            except Exception as error:  # a failing executor function rejects the promise
                self.do_reject(error)

    # -- state -----------------------------------------------------------------
    @property
    def is_pending(self) -> bool:
        return self._state == _PENDING

    @property
    def is_fulfilled(self) -> bool:
        return self._state == _FULFILLED

    @property
    def is_rejected(self) -> bool:
        return self._state == _REJECTED

    @property
    def value(self) -> Any:
        """The result once fulfilled (the error once rejected, as upstream); ValueError while pending."""
        if self._state == _PENDING:
            raise ValueError("Promise is still pending.")
        return self._result

    @property
    def error(self) -> Exception:
        if self._state != _REJECTED:
            raise ValueError("Promise is not rejected.")
        return self._result

    # -- settling ----------------------------------------------------------------
    def do_resolve(self, result: Any) -> Any:
        """Fulfil with result (a Promise result is waited for). Settling twice does nothing."""
        if self._state != _PENDING:
            return result
        if isinstance(result, Promise):
            result.then(self.do_resolve, self.do_reject)
            return result
        self._state, self._result = _FULFILLED, result
        resolvers, self._resolvers, self._rejectors = self._resolvers, [], []
        for resolver in resolvers:
            resolver(result)
        return result

    def do_reject(self, error: Exception) -> Exception:
        if self._state != _PENDING:
            return error
        self._state, self._result = _REJECTED, error
        rejectors, self._resolvers, self._rejectors = self._rejectors, [], []
        for rejector in rejectors:
            rejector(error)
        return error

    # -- chaining -----------------------------------------------------------------
    def then(self, resolver: Optional[Callable] = None, rejector: Optional[Callable] = None) -> "Promise":
        """A new promise settled by resolver(result) / rejector(error); either may return a Promise.
        A missing callback passes the result or error through."""
        derived = Promise()

        def on_ok(result):
            if resolver is None:
                derived.do_resolve(result)
                return
            try:
                derived.do_resolve(resolver(result))
            except Exception as error:
                derived.do_reject(error)

        def on_error(error):
            if rejector is None:
                derived.do_reject(error)
                return
            try:
                derived.do_resolve(rejector(error))
            except Exception as error2:
                derived.do_reject(error2)

        if self._state == _FULFILLED:
            on_ok(self._result)
        elif self._state == _REJECTED:
            on_error(self._result)
        else:
            self._resolvers.append(on_ok)
            self._rejectors.append(on_error)
        return derived

    def catch(self, rejector: Callable) -> "Promise":
        return self.then(None, rejector)

    @classmethod
    def all(cls, subpromises: Sequence["Promise"]) -> "Promise":
        """Fulfilled with the list of results once all are; rejected by the first rejection."""
        subpromises = list(subpromises)
        out = cls()
        if not subpromises:
            out.do_resolve([])
            return out
        results: list = [None] * len(subpromises)
        left = [len(subpromises)]

        def make_ok(i):
            def ok(result):
                results[i] = result
                left[0] -= 1
                if left[0] == 0:
                    out.do_resolve(results)

            return ok

        for i, sub in enumerate(subpromises):
            sub.then(make_ok(i), out.do_reject)
        return out

    def __repr__(self) -> str:
        state = ("pending", "fulfilled", "rejected")[self._state]
        return f"Promise({state})" if self._state == _PENDING else f"Promise({state}: {self._result!r})"


def wait_promises(subpromises: Sequence[Promise]) -> Promise:
    """A promise fulfilled with the list of subpromises once every one has settled, either way."""
    subpromises = list(subpromises)
    out = Promise()
    left = [len(subpromises)]
    if not subpromises:
        out.do_resolve([])
        return out

    def settled(_):
        left[0] -= 1
        if left[0] == 0:
            out.do_resolve(subpromises)

    for sub in subpromises:
        sub.then(settled, settled)
    return out
