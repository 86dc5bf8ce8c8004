"""Reloading identities/: the plan (pure) and the Fleet that carries it out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bot.config import ChargerConfig, load_config, load_identities
from bot.config.keys import generate_keys
from bot.config.pricing import StaticPricing
from bot.config.zapper import ZapperConfig
from bot.errors import ConfigError
from bot.fleet import Fleet, plan_reload
from bot.identity import NewCharger, create_identity
from tests.helpers import write_config


def _chargers(tmp_path: Path, *ids: str) -> tuple[ChargerConfig, ...]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return load_config(write_config(tmp_path, chargers=ids)).chargers


def test_the_plan_names_what_changes(tmp_path: Path) -> None:
    one, two = _chargers(tmp_path, "cp-001", "cp-002")
    dearer = replace(two, tariff=replace(two.tariff, price_msat_per_kwh=300_000))
    three = _chargers(tmp_path / "more", "cp-003")[0]
    plan = plan_reload({"cp-001": one, "cp-002": two}, [dearer, three])
    assert [c.id for c in plan.added] == ["cp-003"]
    assert [c.id for c in plan.changed] == ["cp-002"]
    assert plan.removed == ("cp-001",)
    assert plan.problems == ()
    assert plan.summary() == (
        "added: cp-003; changed: cp-002; removed (finishing their sessions): cp-001"
    )
    assert plan_reload({"cp-001": one}, [one]).summary() == "nothing changed"


def test_what_needs_a_restart_is_refused(tmp_path: Path) -> None:
    (one,) = _chargers(tmp_path, "cp-001")
    zapper = ZapperConfig("cp@pay.example.org", (generate_keys().public_key_hex,))
    new_key = replace(one, keys=generate_keys())
    with_zapper = replace(one, zapper=zapper)
    assert plan_reload({"cp-001": one}, [new_key]).problems == (
        "cp-001: its key changed; that needs a restart",
    )
    assert plan_reload({"cp-001": one}, [with_zapper]).problems == (
        "cp-001: its [zapper] table changed; that needs a restart",
    )
    added = replace(with_zapper, id="cp-009")
    assert plan_reload({"cp-001": one}, [one, added]).problems == (
        "cp-009: a charger with a [zapper] table needs a restart",
    )
    static = replace(one, pricing=StaticPricing(123_000))
    assert plan_reload({"cp-001": one}, [static]).problems == ()


class Recorder:
    def __init__(self) -> None:
        self.told: list[tuple[list[str], list[str]]] = []

    async def fleet_changed(
        self, serving: Sequence[ChargerConfig], known: Sequence[ChargerConfig]
    ) -> None:
        self.told.append(([c.id for c in serving], [c.id for c in known]))


async def test_a_removed_charger_finishes_then_retires(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, chargers=("cp-001", "cp-002")))
    directory = config.service.identities_dir
    running = {"cp-001": 1}
    registered: list[str] = []
    recorder = Recorder()

    async def register(chargers: Sequence[ChargerConfig]) -> None:
        registered.extend(c.id for c in chargers)

    async def unfinished(charger_id: str) -> int:
        return running.get(charger_id, 0)

    fleet = Fleet(
        config.chargers,
        load=lambda: load_identities(directory, None),
        listeners=[recorder],
        register=register,
        unfinished=unfinished,
    )
    for name in ("cp-001.toml", "cp-001.key"):
        (directory / name).unlink()
    create_identity(directory, NewCharger(id="cp-003", name="New", lat=1, lon=2), None)
    ok, message = await fleet.reload()
    assert ok, message
    assert message == "reloaded: added: cp-003; removed (finishing their sessions): cp-001"
    assert registered == ["cp-003"]
    assert recorder.told[-1] == (["cp-002", "cp-003"], ["cp-002", "cp-003", "cp-001"])
    assert not fleet.accepting("cp-001") and fleet.accepting("cp-003")
    assert await fleet.retire_finished() == []  # a session still needs cp-001
    running["cp-001"] = 0
    assert await fleet.retire_finished() == ["cp-001"]
    assert recorder.told[-1] == (["cp-002", "cp-003"], ["cp-002", "cp-003"])
    assert [c.id for c in fleet.chargers] == ["cp-002", "cp-003"]


async def test_a_broken_file_changes_nothing_and_says_why(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, chargers=("cp-001",)))
    directory = config.service.identities_dir
    recorder = Recorder()

    async def nothing(_: object) -> int:
        return 0

    fleet = Fleet(
        config.chargers,
        load=lambda: load_identities(directory, None),
        listeners=[recorder],
        register=nothing,
        unfinished=nothing,
    )
    create_identity(directory, NewCharger(id="cp-002", name="Two", lat=1, lon=2), None)
    broken = directory / "cp-003.toml"
    broken.write_text('id = "cp-003"\nname = \n', encoding="utf-8")
    ok, message = await fleet.reload()
    assert not ok
    assert message.startswith("nothing changed: ") and "cp-003.toml" in message
    assert "not valid TOML" in message
    assert recorder.told == [] and [c.id for c in fleet.chargers] == ["cp-001"]
    broken.unlink()
    (directory / "cp-002.key").chmod(0o644)
    ok, message = await fleet.reload()
    assert not ok and "cp-002.key" in message
    (directory / "cp-002.key").chmod(0o600)
    ok, message = await fleet.reload()
    assert ok and message == "reloaded: added: cp-002"


def test_load_identities_is_the_start_up_check(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, chargers=("cp-001",)))
    directory = config.service.identities_dir
    text = (directory / "cp-001.toml").read_text(encoding="utf-8")
    (directory / "copy.toml").write_text(text, encoding="utf-8")
    try:
        load_identities(directory, None)
    except ConfigError as error:
        assert "duplicate charger id 'cp-001'" in str(error)
    else:
        raise AssertionError("a duplicate id was accepted")
