"""The language of the sentences in an API answer (``reasons_text``): ``Accept-Language``, then ``cvm.yaml``.

Codes (``reasons``) never change with the language; only the sentences next to them do. The order is the
dashboard's (:mod:`cvm.web.language`) without its session and ``?lang=``: the header by its q-values,
then ``reporting.locale``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cvm.i18n import Lang
from cvm.web.language import accept_language, configured_lang


def api_lang(request: Request) -> Lang:
    """The language asked for by ``request``'s ``Accept-Language``, else the workspace's ``reporting.locale``."""
    configured = configured_lang(request)
    asked = accept_language(request.headers.get("accept-language"))
    return Lang(asked[0], configured.currency) if asked else configured


ApiLang = Annotated[Lang, Depends(api_lang)]
