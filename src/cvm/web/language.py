"""The language of a dashboard page: the user's choice, ``?lang=``, the browser's, then ``cvm.yaml``.

Order (the first that names a supported language wins):

1. the language chosen with the switcher, remembered in the session (:meth:`SessionStore.set_locale`);
2. ``?lang=fr`` (or ``fr-BE``) on the URL;
3. the browser's ``Accept-Language`` header, by its q-values;
4. ``reporting.locale`` of ``cvm.yaml``.

The currency always comes from ``reporting.currency``.
"""

from __future__ import annotations

from fastapi import Request

from cvm.i18n import Lang, parse_locale

MAX_HEADER = 512
MAX_RANGES = 16


def accept_language(header: str | None) -> list[str]:
    """Supported locales named by an ``Accept-Language`` header, best first (``*`` and unknown ones skipped).

    Examples
    --------
    >>> accept_language("de-DE,nl-BE;q=0.8,fr;q=0.9,en;q=0.1")
    ['fr', 'nl_BE', 'en']
    >>> accept_language("nl;q=0, fr;q=bad")
    []
    """
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "")[:MAX_HEADER].split(",")[:MAX_RANGES]):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        locale = parse_locale(name) if name.strip() != "*" else None
        if locale is not None and quality > 0:
            ranked.append((-quality, index, locale))
    return [locale for _, _, locale in sorted(ranked)]


def configured_lang(request: Request) -> Lang:
    """The workspace's ``reporting.locale`` and ``reporting.currency`` (English and euro without a workspace)."""
    engine = getattr(request.app.state, "engine", None)
    reporting = getattr(getattr(engine, "settings", None), "reporting", None)
    if reporting is None:
        return Lang()
    return Lang(reporting.locale, reporting.currency)


def request_lang(request: Request) -> Lang:
    """The language of the page for ``request`` (see the module's order)."""
    configured = configured_lang(request)
    user = getattr(request.state, "web_user", None)
    choices = [
        getattr(user, "locale", None),
        parse_locale(request.query_params.get("lang")),
        *accept_language(request.headers.get("accept-language")),
    ]
    chosen = next((c for c in choices if c), configured.locale)
    return Lang(chosen, configured.currency)
