"""Ticket text of the synthetic world: the customer's message and the survey comment.

Text is generated offline from the phrase banks of :mod:`studies.world._text_banks` (eight
languages, the world's), vectorised over contacts, from the named stream ``"text"`` of the world
seed (no other stream is touched, so the rest of the world does not change).

How the wording depends on the contact:

- **reason** picks the problem sentence (a paraphrase bank per reason and language); 6-18% of
  messages (more in chat channels) are vague ("it is not working"), 8% describe a neighbouring
  reason's problem (a suspension appeal that says "i am locked out"), 6% say "this is not about
  <another reason's keyword>", and vocabulary such as "account", "locked", "payment", "report" and
  "id" is shared across reasons: a keyword rule is measurably imperfect.
- **latent complexity** ``kappa`` sets the number of detail sentences (reason details and
  technical ones such as error codes and app versions: Poisson with mean ``exp(0.1 + 0.8 kappa)``
  times a channel factor) and the chance of "this is the third time i write".
- **sentiment**: the customer's latent satisfaction trait and ``kappa`` set the chance of an angry
  or a friendly phrase in the message; the survey comment's tone follows the contact's latent CSAT
  score plus logistic noise, cut at the CSAT cut points (five tones), with aspect phrases (wait,
  resolution) and 8% of comments with a tone drawn at random.
- **channel** sets length, greeting and closing (e-mails are long and polite, chat is short).
- typos: each phrase is misspelt with probability 7% (12% in chat channels).

Examples
--------
>>> import numpy as np
>>> from studies.world import WorldConfig
>>> f = contact_text(1, WorldConfig(), reason=np.array([0, 3]), channel=np.array([0, 1]),
...                  language=np.array([0, 1]), kappa=np.zeros(2), mood=np.zeros(2),
...                  latent=np.zeros(2), responded=np.array([True, False]))
>>> list(f.columns)
['contact_id', 'message', 'comment']
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from servicelab.random import named_stream
from studies.world._text_banks import BANKS, REASON_KEYS
from studies.world.schema import CHANNELS, LANGUAGES, REASONS

if TYPE_CHECKING:
    from studies.world.config import WorldConfig

__all__ = ["TONES", "contact_text", "keyword_lexicon"]

TONES: tuple[str, ...] = ("c_vneg", "c_neg", "c_neu", "c_pos", "c_vpos")
_CUTS = (-0.6, -0.1, 0.5, 1.9)  # the world's CSAT cut points
# neighbouring reason whose problem a message may describe instead (8% of messages)
_CONFUSABLE = {
    "account_access": "suspension_appeal",
    "suspension_appeal": "account_access",
    "safety_report": "suspension_appeal",
    "billing_ads": "verification",
    "verification": "billing_ads",
    "other": "account_access",
}
# per channel (dm, email, web_form, in_app): greeting, closing, vague, second problem, length, typo
_P_GREET = np.array([0.5, 0.9, 0.3, 0.3])
_P_CLOSE = np.array([0.4, 0.9, 0.5, 0.3])
_P_VAGUE = np.array([0.18, 0.06, 0.08, 0.18])
_P_SECOND = np.array([0.15, 0.45, 0.35, 0.1])
_LEN = np.array([0.6, 1.4, 1.0, 0.6])
_P_TYPO = np.array([0.12, 0.07, 0.07, 0.12])
_SEP = np.array([" ", ". ", ". ", " "], dtype=object)
_MAX_DETAILS = 6

# the banks and the per-channel arrays follow the schema's code order
assert tuple(REASON_KEYS) == REASONS
assert set(BANKS) == set(LANGUAGES)
assert CHANNELS == ("dm", "email", "web_form", "in_app")


def _typo(phrase: str) -> str:
    """A deterministic misspelling: swap two letters inside the phrase's longest latin word."""
    words = phrase.split(" ")
    cand = [i for i, w in enumerate(words) if len(w) >= 4 and w.isascii() and w.isalpha()]
    if not cand:
        return phrase
    i = max(cand, key=lambda k: (len(words[k]), -k))
    w = words[i]
    j = 1 + zlib.crc32(phrase.encode()) % (len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


# one global phrase table: entry 0 is "", then four variants of every phrase (plain or misspelt,
# followed by " " or ". "), so that a message is one fancy index and one join per contact
_TABLE: list[str] = [""]


class _Bank:
    """One slot's phrases (ids into the global table), indexed by language (and reason)."""

    def __init__(self, groups: list[list[str]]) -> None:
        flat = [p for g in groups for p in g]
        first = len(_TABLE)
        for p in flat:
            t = _typo(p)
            _TABLE.extend([p + " ", p + ". ", t + " ", t + ". "])
        self.base = first + 4 * np.arange(len(flat), dtype=np.int64)
        self.flat = flat
        self.count = np.array([len(g) for g in groups], dtype=np.int64)
        self.offset = np.concatenate([[0], np.cumsum(self.count)[:-1]]).astype(np.int64)

    def pick(self, group: np.ndarray, u: np.ndarray, p_typo: np.ndarray | float, dot: np.ndarray | int,
             present: np.ndarray | bool = True) -> np.ndarray:  # fmt: skip
        """Table ids of one phrase per row (0 where not ``present``).

        One uniform ``u`` per row picks the phrase (its integer part after scaling by the group's
        size) and the misspelling (its fractional part, uniform and independent of the integer
        part, below ``p_typo``).
        """
        count = self.count[group]
        x = u * count
        k = np.minimum(x.astype(np.int64), count - 1)
        typo = (x - k) < p_typo
        ids = self.base[self.offset[group] + k] + 2 * typo + dot
        return np.where(present, ids, 0)


def _lang_bank(slot: str) -> _Bank:
    return _Bank([list(BANKS[lang][slot]) for lang in LANGUAGES])


def _lang_reason_bank(slot: str) -> _Bank:
    return _Bank([list(BANKS[lang][slot][r]) for lang in LANGUAGES for r in REASONS])


def _notabout_bank() -> _Bank:
    """Phrases "this is not about <keyword>", per language x reason of the keyword."""
    return _Bank([[BANKS[lang]["notabout"].format(x=BANKS[lang]["topic_word"][r])] for lang in LANGUAGES
                  for r in REASONS])  # fmt: skip


_BANK: dict[str, _Bank] = {
    slot: (_lang_reason_bank(slot) if slot in ("problem", "detail") else _lang_bank(slot))
    for slot in ("greet", "close", "problem", "detail", "tech", "vague", "repeat", "neg", "pos", "offtopic",
                 *TONES, "c_wait_bad", "c_wait_good", "c_fixed", "c_notfixed")
}  # fmt: skip
_BANK["notabout"] = _notabout_bank()
_TABLE_PA = pa.array(_TABLE, type=pa.string())


def _join(slots: list[np.ndarray]) -> np.ndarray:
    """Concatenate the table entries ``slots[0][i] + slots[1][i] + ...`` per row (0 = nothing).

    The present entries are compacted row by row (row-major order keeps the slots' order) into
    one Arrow list array and joined in C++: no empty string is ever copied.
    """
    ids = np.stack(slots, axis=1)
    present = ids > 0
    flat = ids[present]
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int64)
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, type=pa.int64()), pc.take(_TABLE_PA, pa.array(flat)))
    joined = pc.binary_join(lists, "")
    return pc.utf8_rtrim(joined, characters=" .").to_numpy(zero_copy_only=False).astype(object)


def keyword_lexicon() -> dict[str, tuple[str, ...]]:
    """The obvious keywords of each reason in every language (for a naive keyword rule).

    These are the words an analyst would write down first ("password", "suspended", "refund"...);
    a rule built on them is the baseline the reason classifier must beat.

    Examples
    --------
    >>> "password" in keyword_lexicon()["account_access"]
    True
    """
    return {
        "account_access": ("password", "login", "log", "hacked", "contrasena", "senha", "passe", "passwort",
                           "einloggen", "パスワード", "ログイン", "المرور", "الدخول", "login"),
        "suspension_appeal": ("suspended", "suspension", "banned", "appeal", "suspendida", "suspension",
                              "suspensa", "suspendu", "gesperrt", "sperrung", "凍結", "تعليق", "suspend"),
        "safety_report": ("harassing", "threats", "fake", "abusive", "acosando", "falsa", "assediando",
                          "harcele", "belaestigt", "嫌がらせ", "偽", "يضايقني", "مزيف", "pareshan", "dhamki"),
        "billing_ads": ("charged", "refund", "invoice", "ads", "billed", "cobraron", "reembolso", "anuncios",
                        "factura", "fatura", "remboursement", "rechnung", "広告", "返金", "الإعلانات", "refund"),
        "verification": ("verified", "verification", "badge", "verificado", "verificacion", "verificacao",
                         "verifie", "verifiziert", "認証", "التوثيق", "verification"),
        "other": ("username", "notifications", "download", "crashing", "usuario", "notificacoes", "notifications",
                  "benutzernamen", "通知", "الإشعارات", "username"),
    }  # fmt: skip


def contact_text(
    seed: int,
    cfg: WorldConfig,
    *,
    reason: np.ndarray,
    channel: np.ndarray,
    language: np.ndarray,
    kappa: np.ndarray,
    mood: np.ndarray,
    latent: np.ndarray,
    responded: np.ndarray,
) -> pd.DataFrame:
    """The ``contact_text`` table: one message per contact, a comment for a share of responses.

    Parameters
    ----------
    seed : int
        World seed (the stream ``"text"`` under it is used).
    cfg : WorldConfig
        ``emit_text`` (False gives an empty table) and ``comment_share``.
    reason, channel, language : ndarray of int
        Codes into ``REASONS``, ``CHANNELS``, ``LANGUAGES`` per contact.
    kappa : ndarray
        Latent complexity per contact.
    mood : ndarray
        The customer's latent satisfaction trait (sets the message's tone).
    latent : ndarray
        Latent CSAT score per contact (sets the comment's tone).
    responded : ndarray of bool
        Whether the contact answered the survey (only responders can leave a comment).

    Returns
    -------
    DataFrame
        ``contact_id`` (1..n, as in ``contacts``), ``message``, ``comment`` (None without one).
    """
    n = int(reason.size)
    if not cfg.emit_text:
        return pd.DataFrame({"contact_id": np.zeros(0, dtype=np.int64), "message": np.zeros(0, dtype=object),
                             "comment": np.zeros(0, dtype=object)})  # fmt: skip
    rng = named_stream(seed, "text")
    n_r = len(REASONS)
    lang_reason = language * n_r + reason
    dot = (_SEP[channel] == ". ").astype(np.int64)
    p_typo = _P_TYPO[channel]

    def u() -> np.ndarray:
        return rng.random(n, dtype=np.float32)

    def pick(slot: str, group: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """Table ids of one phrase per row; only the rows where ``present`` draw (0 elsewhere)."""
        if present is None:
            return _BANK[slot].pick(group, u(), p_typo, dot)
        idx = np.flatnonzero(present)
        ids = np.zeros(n, dtype=np.int64)
        ids[idx] = _BANK[slot].pick(group[idx], rng.random(idx.size, dtype=np.float32), p_typo[idx], dot[idx])
        return ids

    slots: list[np.ndarray] = []
    slots.append(pick("greet", language, u() < _P_GREET[channel]))
    # main problem sentence: vague, a neighbouring reason's, or the reason's own
    conf = np.array([REASONS.index(_CONFUSABLE[r]) for r in REASONS])[reason]
    v = u()
    vague = v < _P_VAGUE[channel]
    neighbour = ~vague & (v < _P_VAGUE[channel] + 0.08)
    main = pick("problem", np.where(neighbour, language * n_r + conf, lang_reason))
    slots.append(np.where(vague, pick("vague", language, vague), main))
    # a paraphrase of the own reason's problem (longer channels)
    slots.append(pick("problem", lang_reason, u() < _P_SECOND[channel]))
    # complexity: detail sentences, reason-specific or technical
    k = np.minimum(rng.poisson(np.exp(0.1 + 0.8 * kappa) * _LEN[channel]), _MAX_DETAILS)
    for j in range(_MAX_DETAILS):
        on = k > j
        own = on & (u() < 0.5)
        slots.append(pick("detail", lang_reason, own) + pick("tech", language, on & ~own))
    slots.append(pick("repeat", language, u() < 1.0 / (1.0 + np.exp(2.5 - 1.0 * kappa))))
    # keyword trap and off-topic chatter
    other = (reason + rng.integers(1, n_r, size=n)) % n_r
    slots.append(pick("notabout", language * n_r + other, u() < 0.06))
    slots.append(pick("offtopic", language, u() < 0.12))
    # tone of the message
    angry = u() < 1.0 / (1.0 + np.exp(1.2 + 0.8 * mood - 0.5 * kappa))
    friendly = ~angry & (u() < 1.0 / (1.0 + np.exp(1.5 - 0.8 * mood)))
    slots.append(pick("neg", language, angry))
    slots.append(pick("pos", language, friendly))
    slots.append(pick("close", language, u() < _P_CLOSE[channel]))
    message = _join(slots)

    # survey comments: a share of responders
    has = responded & (u() < cfg.comment_share)
    idx = np.flatnonzero(has)
    m = idx.size
    comment = np.full(n, None, dtype=object)
    if m:
        lang_c = language[idx]
        score = np.nan_to_num(latent[idx]) + 0.6 * rng.logistic(size=m)
        tone = np.searchsorted(np.asarray(_CUTS), score)
        tone = np.where(rng.random(m) < 0.08, rng.integers(0, len(TONES), size=m), tone)

        def cpick(slot: str) -> np.ndarray:
            return _BANK[slot].pick(lang_c, rng.random(m), 0.07, 1)

        first = np.zeros(m, dtype=np.int64)
        for t, slot in enumerate(TONES):
            first = np.where(tone == t, cpick(slot), first)
        good = score > 0.5
        wait = np.where(good, cpick("c_wait_good"), cpick("c_wait_bad"))
        fixed = np.where(score > 0.2, cpick("c_fixed"), cpick("c_notfixed"))
        comment[idx] = _join([first, np.where(rng.random(m) < 0.3, wait, 0), np.where(rng.random(m) < 0.3, fixed, 0)])
    return pd.DataFrame({"contact_id": np.arange(1, n + 1, dtype=np.int64), "message": message,
                         "comment": comment})  # fmt: skip

