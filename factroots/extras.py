"""Optional dependencies: a command that needs a missing one stops at once and says what to install.

The core (index, query, trace, export) needs none of them; `probe` and the demo's model need the
`probe` extra (torch, transformers), `report` and the demo's report the `report` extra.
"""

from __future__ import annotations

import importlib

from factroots.errors import FactrootsError

EXTRAS: dict[str, tuple[str, ...]] = {
    "probe": ("torch", "transformers"),
    "report": ("matplotlib", "scipy", "opencc"),
    "serve": ("fastapi", "uvicorn", "swagger_ui"),
}
NEEDED: dict[str, tuple[str, ...]] = {  # imported up front; opencc only when a language is zh
    "probe": ("torch", "transformers"),
    "report": ("matplotlib", "scipy"),
    "serve": ("fastapi", "uvicorn"),
}
EXTRA_OF = {module: extra for extra, modules in EXTRAS.items() for module in modules}


def missing_message(module: str, command: str) -> str | None:
    """The one-line advice when `module` (or one of its submodules) is not installed, or None
    when it belongs to no extra."""
    extra = EXTRA_OF.get(module.split(".")[0])
    if extra is None:
        return None
    return (
        f"{command} needs {module.split('.')[0]}, which is not installed: "
        f"pip install 'factroots[{extra}]'"
    )


def require(command: str, *extras: str, hint: str = "") -> None:
    """Import each module `extras` need, or stop with one line saying what to install (and
    `hint`, appended to that line)."""
    for extra in extras:
        for module in NEEDED[extra]:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name is not None and exc.name.split(".")[0] != module:
                    raise FactrootsError(f"{command}: cannot import {module}: {exc}") from None
                raise FactrootsError(
                    (missing_message(module, command) or f"{command}: {module} is not installed")
                    + hint
                ) from None
            except ImportError as exc:  # installed but broken: say so, not "install it"
                raise FactrootsError(f"{command}: cannot import {module}: {exc}") from None
