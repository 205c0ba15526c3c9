"""Effect models shared by a pool of actions (e.g. the actions of one channel), with the action as a feature.

An action with a few hundred randomised decisions cannot learn on its own who its effect falls on: its DR
pseudo-outcomes are too noisy. Actions that act alike (the same channel: a call is a call, whichever plan makes
it) can learn it together: their pseudo-outcomes are stacked, each row marked with its action in one 0/1 column
per pooled action, and one effect model is fitted on them. Where the data show the actions differ, the model
splits on those columns; where they do not, the actions share one effect. Used by
:class:`~cvm.models.uplift_multi.MultiUplift` (``pools``).

Examples
--------
>>> import pandas as pd
>>> marked(pd.DataFrame({"age": [1.0, 2.0]}), ["call", "visit"], "visit").to_dict("list")
{'age': [1.0, 2.0], 'pooled_action_0': [0.0, 0.0], 'pooled_action_1': [1.0, 1.0]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

PREFIX = "pooled_action_"


def marked(data: pd.DataFrame, members: Sequence[str], action: str) -> pd.DataFrame:
    """``data`` with one 0/1 column per pooled action in ``members``, set to 1 for ``action``'s."""
    flags = {f"{PREFIX}{k}": float(m == action) for k, m in enumerate(members)}
    return data.assign(**flags)


def pooled_groups(pools: Mapping[str, str] | None, actions: Sequence[str]) -> dict[str, list[str]]:
    """Action → the sorted actions of its pool, for the ``actions`` that share a pool key with another one.

    >>> pooled_groups({"a": "phone", "b": "phone", "c": "email"}, ["a", "b", "c"])
    {'a': ['a', 'b'], 'b': ['a', 'b']}
    """
    if not pools:
        return {}
    by_key: dict[str, list[str]] = {}
    for action in actions:
        if action in pools:
            by_key.setdefault(pools[action], []).append(action)
    return {a: sorted(group) for group in by_key.values() if len(group) > 1 for a in group}
