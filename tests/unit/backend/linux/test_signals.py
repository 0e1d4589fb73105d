import pytest

from launcher.backend.linux import signals
from launcher.errors import UsageError


@pytest.mark.parametrize(
    ("text", "num"),
    [("0", 0), ("TERM", 15), ("SIGTERM", 15), ("sigkill", 9), ("9", 9), ("RTMIN", 34),
     ("RTMIN+3", 37), ("RTMAX-1", 63), ("WINCH", 28)],
)
def test_parse(text: str, num: int) -> None:
    assert signals.parse(text) == num


@pytest.mark.parametrize("text", ["", "65", "NOPE", "RTMIN+40", "-1"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        signals.parse(text)


def test_table_matches_the_signal_module() -> None:
    import signal

    for name, num in signals.NUMBERS.items():
        if hasattr(signal, "SIG" + name):
            assert getattr(signal, "SIG" + name) == num, name
