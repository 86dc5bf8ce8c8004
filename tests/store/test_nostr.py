from __future__ import annotations

from bot.store import Database
from bot.store.nostr import AddressState, ChargerState, NostrStateStore


async def test_addresses_round_trip(db: Database) -> None:
    store = NostrStateStore(db)
    state = AddressState(created_at=10, fingerprint="f", expires_at=99.0, published_at=5.0)
    await store.save_addresses({"33600:ab:cp": state, "0:ab:": AddressState(3, "", None, 1.0)})
    await store.save_addresses({"0:ab:": AddressState(4, "g", None, 2.0)})
    assert await store.addresses() == {
        "33600:ab:cp": state,
        "0:ab:": AddressState(4, "g", None, 2.0),
    }


async def test_a_dm_event_is_claimed_once_and_pruned_later(db: Database) -> None:
    store = NostrStateStore(db)
    assert await store.claim_dm("e1", now=10.0)
    assert not await store.claim_dm("e1", now=11.0)
    assert await store.prune_dms(before=20.0) == 1
    assert await store.claim_dm("e1", now=21.0)


async def test_charger_states_read_what_the_ocpp_layer_wrote(db: Database) -> None:
    await db.execute(
        "INSERT INTO chargers (id, pubkey, online) VALUES ('a', 'pa', 1), ('b', 'pb', 0)"
    )
    await db.execute(
        "INSERT INTO connector_status (charger_id, connector_id, status, updated_at)"
        " VALUES ('a', 1, 'Available', 0), ('a', 2, 'Charging', 0), ('b', 1, 'Faulted', 0)"
    )
    states = await NostrStateStore(db).charger_states(["a", "b", "c"])
    assert states == {
        "a": ChargerState(True, {1: "Available", 2: "Charging"}),
        "b": ChargerState(False, {1: "Faulted"}),
    }
    assert await NostrStateStore(db).charger_states([]) == {}
