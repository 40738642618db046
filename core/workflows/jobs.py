"""Background jobs for the app: ``relevance train …`` / ``relevance score …`` run as detached processes.

Each job is a folder under ``<artifacts_dir>/runs/jobs/<id>/`` holding ``job.json`` (the command, when it
started), ``log.txt`` (everything the command printed) and, once it ends, ``rc`` (its exit status). The
command runs under a pseudo-terminal, so the CLI's tqdm progress bars are on and ``progress()`` reads
the latest percentage from the log. A job outlives the Streamlit run (and the server) that started it:
``python -m core.workflows.jobs FOLDER`` is the small supervisor that owns the pty and writes ``rc``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core import config

_PERCENT = re.compile(r"(\d{1,3})%\|")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class Job:
    id: str
    folder: Path
    title: str
    argv: tuple[str, ...]
    started_at: float
    pid: int | None
    rc: int | None
    ended_at: float | None = None

    @property
    def minutes(self) -> float:
        """How long it ran: start to end for an ended job (not to now), start to now for a running one."""
        return ((self.ended_at or time.time()) - self.started_at) / 60

    @property
    def status(self) -> str:
        if self.rc is None:
            return "running" if _alive(self.pid) else "lost"
        return {0: "done", -signal.SIGTERM: "stopped", 128 + signal.SIGTERM: "stopped"}.get(self.rc, "failed")

    @property
    def log(self) -> Path:
        return self.folder / "log.txt"


def jobs_dir() -> Path:
    return config.path("artifacts_dir") / "runs" / "jobs"


def relevance_argv(*args: str) -> list[str]:
    """The argv of a ``relevance`` subcommand run with this interpreter (``python -m core ...``)."""
    return [sys.executable, "-m", "core", *args]


def start(argv: list[str], title: str, *, root: Path | None = None, env: dict | None = None) -> Job:
    """Start ``argv`` in the background under the supervisor; returns at once."""
    folder = (root or jobs_dir()) / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"title": title, "argv": list(argv), "started_at": time.time()}))
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "core.workflows.jobs", str(folder)], cwd=config.PROJECT_ROOT,
                            env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    (folder / "supervisor.pid").write_text(str(proc.pid))
    return load(folder)


def load(folder: Path) -> Job:
    meta = json.loads((folder / "job.json").read_text())
    pid_file, rc_file = folder / "pid", folder / "rc"
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    if pid is None and (folder / "supervisor.pid").exists():
        pid = int((folder / "supervisor.pid").read_text())
    rc = int(rc_file.read_text()) if rc_file.exists() and rc_file.read_text().strip() else None
    ended = rc_file.stat().st_mtime if rc is not None else None  # the supervisor writes rc when the command ends
    return Job(folder.name, folder, meta["title"], tuple(meta["argv"]), meta["started_at"], pid, rc, ended)


def list_jobs(root: Path | None = None, limit: int = 20) -> list[Job]:
    root = root or jobs_dir()
    if not root.exists():
        return []
    folders = sorted((f for f in root.iterdir() if (f / "job.json").exists()), reverse=True)[:limit]
    return [load(f) for f in folders]


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process counts as ended
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _screen(raw: str) -> list[str]:
    """Lines as a terminal shows them: a carriage return rewrites the line, ANSI codes are dropped."""
    lines = []
    for line in _ANSI.sub("", raw).replace("\r\n", "\n").split("\n"):
        lines.append(line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r"))
    return lines


def tail(job: Job, n: int = 40, max_bytes: int = 64_000) -> str:
    if not job.log.exists():
        return ""
    with open(job.log, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - max_bytes))
        raw = f.read().decode("utf-8", "replace")
    return "\n".join(_screen(raw)[-n:]).strip("\n")


def progress(job: Job) -> float | None:
    """The latest tqdm percentage in the log (0–1); 1 when the job succeeded; None when there is none."""
    if job.rc == 0:
        return 1.0
    if not job.log.exists():
        return None
    with open(job.log, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 4000))
        found = _PERCENT.findall(f.read().decode("utf-8", "replace"))
    return min(100, int(found[-1])) / 100 if found else None


def stop(job: Job) -> None:
    """Send SIGTERM to the job's process group (the command and whatever it started)."""
    if job.pid and job.rc is None:
        try:
            os.killpg(job.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _supervise(folder: Path) -> int:
    """Run the job's command under a pty, copying its output to log.txt; write its exit status to rc."""
    import fcntl
    import pty
    import struct
    import termios

    meta = json.loads((folder / "job.json").read_text())
    master, slave = pty.openpty()
    # a 0×0 terminal makes tqdm draw empty bars: give it 40 rows × 120 columns
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    with open(folder / "log.txt", "ab", buffering=0) as log:
        log.write(("$ " + " ".join(meta["argv"][2:] if meta["argv"][1:2] == ["-m"] else meta["argv"]) + "\n").encode())
        try:
            proc = subprocess.Popen(meta["argv"], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                                    cwd=config.PROJECT_ROOT)
        except OSError as exc:
            log.write(f"could not start: {exc}\n".encode())
            (folder / "rc").write_text("127")
            return 127
        (folder / "pid").write_text(str(os.getpid()))  # the group leader: stop() signals the whole group
        os.close(slave)

        def forward(signum, _frame):
            proc.send_signal(signum)
        signal.signal(signal.SIGTERM, forward)
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the command closed the terminal (it ended)
                break
            if not chunk:
                break
            log.write(chunk)
        rc = proc.wait()
    os.close(master)
    (folder / "rc").write_text(str(rc))
    return rc


if __name__ == "__main__":
    sys.exit(_supervise(Path(sys.argv[1])))
