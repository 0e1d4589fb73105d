import subprocess
import sys

# Runs in a fresh interpreter: the test process may have threads, and this forks.
_SCRIPT = r"""
import os, time
from launcher.backend.linux.channel import Channel
from launcher.backend.linux.init import report_pid_after_fork

a, b = Channel.pair()
real_send = b.send
class Slow:
    def send(self, kind, payload=None):
        time.sleep(0.2)  # the forking parent is descheduled before it reports
        real_send(kind, payload)
if report_pid_after_fork(Slow(), True):
    first, second = a.recv()[0], a.recv()[0]
    os.waitpid(-1, 0)
    print(first, second, flush=True)
else:
    real_send("ready", None)
os._exit(0)
"""


def test_the_pid_reaches_the_parent_before_anything_the_child_sends() -> None:
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                         timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["pid", "ready"]
