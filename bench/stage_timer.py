"""Wall time per stage of a pipeline function, without touching its source: the package
functions it calls by name are read from its source and wrapped with timers in this process.

    timer = StageTimer()
    stages = timer.wrap_calls(portfolio.score_portfolio, portfolio, "receivables.scoring")
    portfolio.score_portfolio(...)
    timer.seconds    # {"invoice_history": 12.1, "train": 17.5, ...}
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import time


def called_functions(fn, module, package: str) -> list[str]:  # noqa: ANN001
    """Names of the `package` functions that `fn` calls by name through `module`'s globals, in
    the order of the source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    calls = sorted((n.lineno, n.col_offset, n.func.id) for n in ast.walk(tree)
                   if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))
    names = list(dict.fromkeys(name for _, _, name in calls))
    return [n for n in names if inspect.isfunction(getattr(module, n, None))
            and getattr(module, n).__module__.startswith(package)]


class StageTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._active: list[str] = []   # only the outermost call of a stage is timed (stages nest)

    def timed(self, name: str, fn, nested: bool = False):  # noqa: ANN001, ANN201
        def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
            if self._active and not nested:
                return fn(*a, **k)
            self._active.append(name)
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self._active.pop()
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t
        return wrapper

    def wrap_calls(self, fn, module, package: str, *, prefix: str = "", nested: bool = False) -> list[str]:  # noqa: ANN001
        """Wrap the stages `fn` calls (see called_functions) in `module`; returns their names."""
        names = called_functions(fn, module, package)
        for name in names:
            setattr(module, name, self.timed(prefix + name, getattr(module, name), nested))
        return names
