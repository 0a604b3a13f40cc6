"""One JSON error shape for every API response, and the handlers that produce it.

Shape: ``{"error": {"code": "...", "message": "...", "details": {...}}}``. ``message``
is in the request's language (Bahasa Indonesia unless English was chosen);
``code`` is a stable English identifier for programs.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub import i18n

log = logging.getLogger(__name__)

i18n.register(
    {
        "error.validation": ("Data tidak valid: {fields}", "Invalid data: {fields}"),
        "error.not_found": ("Tidak ditemukan.", "Not found."),
        "error.unauthorized": ("Silakan masuk terlebih dahulu.", "Please log in first."),
        "error.forbidden": ("Anda tidak berhak melakukan tindakan ini.", "You are not allowed to do this."),
        "error.internal": ("Terjadi kesalahan pada server. Silakan coba lagi.", "The server failed. Please try again."),
        "error.http": ("Permintaan tidak dapat diproses ({status}).", "The request could not be processed ({status})."),
    }
)


class ApiError(Exception):
    """An error meant for the API caller; ``message_key`` is looked up in the i18n catalogue."""

    def __init__(self, status_code: int, code: str, message_key: str, details: dict[str, Any] | None = None, **values: object) -> None:
        super().__init__(code)
        self.status_code = status_code
        self.code = code
        self.message_key = message_key
        self.details = details or {}
        self.values = values


def request_language(request: Request) -> str:
    """Pick the language from ?lang=, the 'lang' cookie, then Accept-Language."""
    return i18n.normalise_language(
        request.query_params.get("lang") or request.cookies.get("lang") or request.headers.get("accept-language")
    )


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers so that every error leaves the API in the one shape above."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        message = i18n.translate(exc.message_key, request_language(request), **exc.values)
        return JSONResponse(error_body(exc.code, message, exc.details), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in err.get("loc", ())[1:]) or "(body)", "problem": err.get("msg", "")}
            for err in exc.errors()
        ]
        fields = ", ".join(p["field"] for p in problems[:5])
        message = i18n.translate("error.validation", request_language(request), fields=fields)
        return JSONResponse(error_body("validation_error", message, {"problems": problems}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        language = request_language(request)
        key = {401: "error.unauthorized", 403: "error.forbidden", 404: "error.not_found"}.get(exc.status_code, "error.http")
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        details = {"detail": exc.detail} if isinstance(exc.detail, str) and exc.status_code not in (401, 403, 404) else {}
        return JSONResponse(
            error_body(code, i18n.translate(key, language, status=exc.status_code), details),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal_error", i18n.translate("error.internal", request_language(request))), status_code=500)
