"""The explorer's ASGI app (FastAPI): a JSON API over `Explorer` and one page that uses it.

Every error is JSON, `{"error": "<one line>"}`, with a 4xx status; the OpenAPI page is at
`/docs`. The page, the OpenAPI page and their scripts and styles are served by the app itself
(no external network): Swagger UI's files come from the `swagger-ui-py` package.
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

from factroots.defaults import DEFAULT_MODE
from factroots.errors import FactrootsError
from factroots.extras import missing_message
from factroots.serve.explorer import MAX_SHOW, Explorer, RequestError


def create_app(explorer: Explorer):
    """The FastAPI app answering from `explorer` (read-only)."""
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse

    app = FastAPI(
        title="factroots explorer",
        description="Facts across languages: presence in the indexes, evidence, predictions.",
        docs_url=None,  # served below from local files, not from a CDN
        redoc_url=None,
    )
    _add_docs(app)

    @app.exception_handler(RequestError)
    async def request_error(_request: Request, exc: RequestError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(FactrootsError)
    async def factroots_error(_request: Request, exc: FactrootsError):
        return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "query")
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, 422)

    @app.get("/api/languages")
    async def languages() -> list[dict]:
        """Each index: language, tokenizer, lines, tokens, documents."""
        return [vars(language) for language in explorer.languages.values()]

    @app.get("/api/count")
    async def count(lang: str, entity: str, mode: str = DEFAULT_MODE) -> dict:
        """Lines an entity occurs on (`query SUBJECT`)."""
        return explorer.count(lang, entity, mode)

    @app.get("/api/cooccur")
    async def cooccur(
        lang: str,
        subject: str,
        object: str,
        mode: str = DEFAULT_MODE,
        show: int = Query(3, description=f"evidence lines, 0 to {MAX_SHOW}"),
    ) -> dict:
        """Whether subject and object share a line (`query SUBJECT OBJECT --json`), with
        evidence; mentions are character spans in each line's text."""
        return explorer.cooccur(lang, subject, object, mode, show)

    @app.get("/api/facts/{uuid}")
    async def fact(uuid: str, show: int = Query(3, ge=0, le=MAX_SHOW)) -> dict:
        """One fact in every language: presence, evidence, predictions, neuron overlap."""
        return explorer.fact(uuid, show)

    @app.get("/api/facts")
    async def facts(
        lang: str | None = None,
        relation: str | None = None,
        present: bool | None = None,
        correct: bool | None = None,
        q: str | None = None,
        page: int = 1,
    ) -> dict:
        """A page of facts, filtered by language, relation, presence, correctness or text."""
        return explorer.facts(lang, relation, present, correct, q, page)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("factroots.serve").joinpath("page.html").read_text("utf-8")

    return app


DOCS_STATIC = "/docs-static"


def swagger_ui_files() -> Path:
    """The folder of Swagger UI's bundle and style in the `swagger-ui-py` package (found
    without importing it: its own import pulls in web-framework glue factroots never uses)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise FactrootsError(str(missing_message("swagger_ui", "factroots serve")))
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _add_docs(app) -> None:
    """`/docs`: Swagger UI on the app's OpenAPI schema, its files served by the app."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount(DOCS_STATIC, StaticFiles(directory=swagger_ui_files()), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title}: API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png",
        )


def serve(explorer: Explorer, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(explorer), host=host, port=port, log_level="warning")
