from __future__ import annotations

import itertools
import re
import uuid

from bot.sessions.ids import ID_TAG_LENGTH, SessionIds, id_tag_for, looks_like_id_tag


def counter_bytes() -> SessionIds:
    counter = itertools.count()
    return SessionIds(lambda n: next(counter).to_bytes(n, "big"))


def test_ids_are_random_and_well_formed() -> None:
    ids = SessionIds()
    session_ids = {ids.session_id() for _ in range(1000)}
    assert len(session_ids) == 1000
    assert all(uuid.UUID(s).version == 4 for s in session_ids)
    token = ids.page_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 256 bits, URL-safe, no padding
    k1 = ids.k1()
    assert re.fullmatch(r"[0-9a-f]{64}", k1)


def test_the_random_source_is_injected() -> None:
    assert counter_bytes().k1() == counter_bytes().k1()
    assert counter_bytes().session_id() == counter_bytes().session_id()


def test_id_tags_fit_ocpp_and_are_unique_per_session() -> None:
    ids = SessionIds()
    tags = set()
    for _ in range(2000):
        session_id = ids.session_id()
        tag = id_tag_for(session_id)
        assert len(tag) == ID_TAG_LENGTH  # OCPP 1.6 idToken: CiString20
        assert tag == tag.upper() and tag.isalnum()
        assert id_tag_for(session_id) == tag  # derived: the same session, the same tag
        assert looks_like_id_tag(tag) and looks_like_id_tag(tag.lower())
        tags.add(tag)
    assert len(tags) == 2000


def test_id_tag_does_not_carry_the_payer() -> None:
    pubkey = "a" * 64
    assert pubkey[:18].upper() not in id_tag_for(pubkey)
    assert not looks_like_id_tag("04A2B3C4D5E6F7")  # an RFID card's UID
    assert not looks_like_id_tag("ZC" + "1" * 18)  # base32 has no 1
