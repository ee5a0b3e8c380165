"""Kernels for report notebooks: on this interpreter, and warm (forked from a template).

A report's kernel always runs on the Python running the report (never another interpreter a
stray ``python3`` kernelspec points at). While several reports run, each kernel is forked from
one "kernel template" process that has already imported the analysis stack, which saves each
report about two seconds; see the section comment below for who cleans up what.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Kernel: the interpreter running this code
# --------------------------------------------------------------------------------------------


@functools.cache
def _current_interpreter_kernel_manager_class() -> type:
    """A kernel manager class that always starts ipykernel on ``sys.executable``.

    A kernelspec named ``python3`` found earlier on the Jupyter path (for example one in the
    user's home folder) may point at another Python; this one never does. While warm kernels
    are on (see :func:`_warm_kernels`) it forks each kernel from the kernel template instead of
    starting a new interpreter, and falls back to starting one if that cannot be done.
    """
    import uuid

    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    warm_provisioner = _warm_kernel_provisioner_class()

    class CurrentInterpreterKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            spec = get_kernel_dict()  # argv: [sys.executable, "-m", "ipykernel_launcher", ...]
            spec["argv"] = _kernel_argv(spec["argv"])  # ... started through launch_kernel
            return KernelSpec(resource_dir=RESOURCES, name=kernel_name, **spec)

    class CurrentInterpreterKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self) -> KernelSpecManager:
            return CurrentInterpreterKernelSpecManager(data_dir=self.data_dir)

        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            # jupyter_client keeps a provisioner that is already set; the default one is a
            # LocalProvisioner, which starts the kernelspec's argv (launch_kernel) with Popen.
            if self.provisioner is None and _warm_kernel_address is not None:
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                provisioner = warm_provisioner(
                    kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
                )
                provisioner.address = _warm_kernel_address
                self.provisioner = provisioner
                self.client_factory = _quick_ready_client_class()
            return await super()._async_pre_start_kernel(**kw)

        async def _async_finish_shutdown(
            self, waittime: float | None = None, pollinterval: float = 0.1, restart: bool = False
        ) -> None:
            # The template reports a warm kernel's exit at once: look for it every 10 ms
            # rather than every 100 ms.
            if isinstance(getattr(self.provisioner, "process", None), _ForkedKernel):
                pollinterval = min(pollinterval, 0.01)
            await super()._async_finish_shutdown(waittime, pollinterval, restart)

    return CurrentInterpreterKernelManager


# --------------------------------------------------------------------------------------------
# Warm kernels: ipykernel forked from a process that has already imported the analysis stack
# --------------------------------------------------------------------------------------------
#
# Starting a kernel and importing pandas, scipy, pandera and plotly costs each report about
# two seconds before its first line of analysis. While several reports run, one "kernel
# template" process imports all that once; each kernel is a fork of it that then becomes
# the kernel (:func:`launch_kernel`) with the environment, working directory and standard
# output of the report's process. Every report still gets a kernel of its own, started
# afresh and never reused. A single review report uses a template too: it imports on the
# second core while the report's process checks the inputs, then analyses the period once for
# the kernel and the finisher (many_reports.run_alone). The template is POSIX-only; wherever
# it is missing or fails, the kernel is started the standard way.
#
# When two or more of a run's reports read one export, the template also reads it (with its
# mapping and pathway) before it forks their kernels, at the caller's request: each kernel
# inherits it as read, and its first cell analyses its period without reading it again
# (analysis_cache.keep_export and analyse_kept; a file changed since is read afresh). The
# caller may ask for more of the same kind (warm_template_with: a review's analysis of its
# period and its disclosure plan, which the kernel then inherits whole: the template makes
# them while no kernel waits, or first when a kernel asks to be forked after them), and may
# have its own work done in a fork of the template that inherits all of it (call_in_template:
# a review's summary, audit and privacy gate; see that section below).
#
# A warm kernel also ends faster: after a shutdown request it lets its control thread finish
# answering (ipykernel's exit can otherwise wait on itself until jupyter_client sends SIGTERM
# 2.5 s later), runs the atexit handlers and flushes its output, but skips tearing down the
# modules it inherited. Its client is ready as soon as the kernel answers on both channels.
#
# Who cleans up what: the template waits for (reaps) its kernels and reports each exit to
# the process that asked for the kernel, over the connection that asked. When that
# connection closes first (the report's process ended), the template kills the kernel. When
# the template's lifeline (its stdin, held by the process that started it) closes, it kills
# every kernel left and ends. A kernel also ends by itself if the template dies (ipykernel's
# parent poller).

#: What a warm kernel has imported before the notebook's first cell: ipykernel and what the
#: report notebooks import (never nbformat or jsonschema, which a notebook does not need).
WARM_KERNEL_MODULES = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.debugger",
    "pandas",
    "plotly.graph_objects",
    "escalation_analysis.measures.analysis",
    "escalation_analysis.reviews.charts",
    "escalation_analysis.measures.comparisons",
    "escalation_analysis.reviews.definitions",
    "escalation_analysis.reviews.display",
    "escalation_analysis.reviews.kpis",
    "escalation_analysis.reviews.labels",
    "escalation_analysis.measures.learning",
    "escalation_analysis.reviews.narrative",
    "escalation_analysis.measures.near_misses",
    "escalation_analysis.reviews.pathway",
    "escalation_analysis.reviews.summary",
    "escalation_analysis.reviews.supervision",
    "escalation_analysis.measures.timeliness",
    "escalation_analysis.measures.trends",
    # imported on first use by every report (0.3-0.9 s a kernel): the disclosure audit's LP solver,
    # the bank-holiday calendars (all countries load together). (Not pandera: the export's checks
    # run in numpy, and pandera is imported only to describe a rule an export breaks.)
    "scipy.optimize",
    "holidays.countries",
)

#: Seconds to wait for the template to fork a kernel (it may still be importing).
WARM_KERNEL_TIMEOUT = 60

#: The template's socket while warm kernels are on in this process (see :func:`_warm_kernels`).
_warm_kernel_address: str | None = None

#: The template's preparations a kernel (or call) asked for here is forked after (see :func:`_using_warm_kernels`).
_warm_kernel_after: tuple[str, ...] = ()

_TEMPLATE_CODE = "from escalation_analysis.publish.kernels import _template_main; _template_main()"
_IPYKERNEL_LAUNCHER = ["-m", "ipykernel_launcher"]
#: How a report's kernel is started: ipykernel, as ``-m ipykernel_launcher`` starts it (the
#: working folder out of ``sys.path`` while it imports), through :func:`launch_kernel`.
_LAUNCHER = [
    "-c",
    "import sys; sys.path[:1] == [''] and sys.path.pop(0); "
    "from escalation_analysis.publish.kernels import launch_kernel; launch_kernel()",
]


def _ipykernel_launcher_at(argv: list[str]) -> int | None:
    """Where ``-m ipykernel_launcher`` starts in a kernelspec's ``argv`` (None: not there)."""
    return next((i for i in range(len(argv) - 1) if argv[i : i + 2] == _IPYKERNEL_LAUNCHER), None)


def _kernel_launch_prefix() -> list[str] | None:
    """``[python, interpreter options]`` of ipykernel's own kernelspec, before ``-m``."""
    try:
        from ipykernel.kernelspec import get_kernel_dict

        argv = list(get_kernel_dict()["argv"])
    except Exception:
        return None
    i = _ipykernel_launcher_at(argv)
    return None if i is None else argv[:i]


def _kernel_argv(argv: list[str]) -> list[str]:
    """ipykernel's kernelspec ``argv``, starting the kernel through :func:`launch_kernel`."""
    i = _ipykernel_launcher_at(argv)
    return argv if i is None else [*argv[:i], *_LAUNCHER, *argv[i + 2 :]]


def launch_kernel() -> None:
    """Start ipykernel with this process's arguments, as ``python -m ipykernel_launcher`` does,
    but end at once, with code 1, if it cannot start.

    ipykernel, when another program has taken its IOPub port (jupyter_client picks free ports
    and lets them go before the kernel binds them), raises while it starts, then waits for ever
    at exit for the sockets it opened. The report's process would wait 60 s for it and give up;
    a kernel that ends is started again on other ports
    (:data:`~escalation_analysis.publish.papermill_engine.KERNEL_START_ATTEMPTS`). (A taken
    heartbeat port stops only ipykernel's heartbeat thread; the kernel works.)
    """
    from ipykernel import kernelapp

    app = kernelapp.IPKernelApp.instance()
    try:
        app.initialize()
    except BaseException:
        import traceback

        traceback.print_exc()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(1)
    app.start()


def _warm_kernels_supported() -> bool:
    return os.name == "posix" and hasattr(os, "fork") and hasattr(socket, "send_fds")


class _KernelTemplate:
    """The process kernels are forked from (started by :func:`_warm_kernels`)."""

    def __init__(self, process: subprocess.Popen, folder: str, address: str) -> None:
        self.process = process
        self.folder = folder
        self.address = address

    @classmethod
    def start(cls) -> _KernelTemplate | None:
        prefix = _kernel_launch_prefix()
        if prefix is None or not _warm_kernels_supported():
            return None
        folder = tempfile.mkdtemp(prefix="escalation-kernels-")  # private to this user (0700)
        address = os.path.join(folder, "template")
        # Bound here, so that requests can queue from now on while the template imports.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(address)
            listener.listen(64)
            process = subprocess.Popen(
                [*prefix, "-c", _TEMPLATE_CODE, str(listener.fileno())],
                stdin=subprocess.PIPE,  # the lifeline
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=[listener.fileno()],
            )
        except OSError as exc:
            logger.info("Warm kernels are off (%s); kernels start the standard way", exc)
            shutil.rmtree(folder, ignore_errors=True)
            return None
        finally:
            listener.close()  # the template has its own copy
        return cls(process, folder, address)

    def stop(self) -> None:
        """Close the lifeline: the template kills any kernel left, and ends."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def _warm_kernels() -> Iterator[str | None]:
    """Reports run in this process inside the block get warm kernels; yields the address.

    The address (None when warm kernels are not available here) can be handed to worker
    processes, which set :data:`_warm_kernel_address` to it while they run a report. Inside
    another such block, this one uses the same template (started earlier, so that it imports
    while this process does other work).
    """
    global _warm_kernel_address
    if _warm_kernel_address is not None:
        yield _warm_kernel_address
        return
    template = _KernelTemplate.start()
    previous = _warm_kernel_address
    _warm_kernel_address = template.address if template else None
    try:
        yield _warm_kernel_address
    finally:
        _warm_kernel_address = previous
        if template is not None:
            template.stop()


@contextlib.contextmanager
def _using_warm_kernels(address: str | None, after: Sequence[str] = ()) -> Iterator[None]:
    """Use the template at ``address`` (or the standard launch, for None) inside the block.

    Each kernel (or call) this process asks for there is forked only once the template has
    made the preparations named in ``after`` (see :func:`warm_template_with`)."""
    global _warm_kernel_address, _warm_kernel_after
    previous = _warm_kernel_address, _warm_kernel_after
    _warm_kernel_address, _warm_kernel_after = address, tuple(after)
    try:
        yield
    finally:
        _warm_kernel_address, _warm_kernel_after = previous


def process_alive(pid: int) -> bool:
    """Whether a process exists and has not ended (a zombie has ended)."""
    if os.path.exists("/proc/self/stat"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class _ForkedKernel:
    """What a kernel provisioner needs of :class:`subprocess.Popen`, for a forked kernel.

    The kernel is the template's child, not ours: the template waits for it and writes
    ``exit <code>`` on the connection that asked for it. Closing that connection while the
    kernel runs makes the template kill it, so a kernel never outlives the handle on it.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, connection: socket.socket, buffer: bytes = b"") -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._connection: socket.socket | None = connection
        self._buffer = buffer
        self._read(0)

    def _read(self, timeout: float | None) -> None:
        """Take in what the template wrote, waiting up to ``timeout`` seconds for it."""
        if self.returncode is not None:
            return
        if self._connection is None:  # the template is gone: look at the process itself
            if not process_alive(self.pid):
                self.returncode = -signal.SIGKILL
            return
        if b"\n" not in self._buffer:
            ready, _, _ = select.select([self._connection], [], [], timeout)
            if ready:
                data = self._connection.recv(4096)
                if not data:
                    self._connection.close()
                    self._connection = None
                    self._read(0)
                    return
                self._buffer += data
        if b"\n" in self._buffer:
            line = self._buffer.split(b"\n", 1)[0]
            self.returncode = int(line.removeprefix(b"exit ")) if line.startswith(b"exit ") else 1
            self._connection.close()
            self._connection = None

    def poll(self) -> int | None:
        self._read(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            self._read(0.1 if self._connection is None else left)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _fork_warm_kernel(
    address: str | None, cmd: list[str], options: dict[str, Any]
) -> _ForkedKernel | None:
    """Ask the template for a kernel running ``cmd``; None if it cannot give one."""
    prefix = _kernel_launch_prefix()
    if address is None or prefix is None:
        return None
    n = len(prefix)
    if cmd[:n] != prefix or cmd[n : n + 2] != _LAUNCHER:
        return None  # not this Python's ipykernel: start it the standard way
    if options.get("independent") or any(options.get(s) is not None for s in ("stdin", "stdout", "stderr")):
        return None
    request = json.dumps({
        "args": list(cmd[n + 2 :]),
        "env": dict(options.get("env") or os.environ),
        "cwd": str(options.get("cwd") or os.getcwd()),
        "after": list(_warm_kernel_after),
    }).encode("utf-8")
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # The kernel writes to this process's standard output and error, as a child would.
        reply = _ask_template(connection, address, request, [1, 2])
        line, _, rest = reply.partition(b"\n")
        if not line.startswith(b"pid "):
            raise OSError("the kernel template could not start a kernel")
        pid = int(line.removeprefix(b"pid "))
        connection.settimeout(None)
    except (OSError, ValueError) as exc:
        connection.close()
        logger.info("No warm kernel (%s); starting one the standard way", exc)
        return None
    return _ForkedKernel(pid, connection, rest)


def _ask_template(connection: socket.socket, address: str, request: bytes, fds: list[int]) -> bytes:
    """Send the template a request for a fork (with the descriptors it is to have as its
    standard output and error) and return what it has answered once its first line is in:
    ``pid <pid>`` (perhaps with the fork's ``exit <code>`` after it), or why not."""
    connection.settimeout(WARM_KERNEL_TIMEOUT)
    connection.connect(address)
    socket.send_fds(connection, [struct.pack("!I", len(request))], fds)
    connection.sendall(request)
    reply = b""
    while b"\n" not in reply:
        data = connection.recv(4096)
        if not data:
            break
        reply += data
    return reply


@functools.cache
def _warm_kernel_provisioner_class() -> type:
    """A LocalProvisioner that forks the kernel from the template when it can."""
    from jupyter_client.provisioning import LocalProvisioner

    class WarmKernelProvisioner(LocalProvisioner):
        address: str | None = None

        async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
            process = _fork_warm_kernel(self.address, cmd, kwargs)
            if process is None:
                return await super().launch_kernel(cmd, **kwargs)
            # The rest of LocalProvisioner (poll, wait, interrupt, kill) works on this handle;
            # the kernel leads its own process group, as a Popen-started kernel does.
            self.process = process
            self.pid = self.pgid = process.pid
            self.cwd = kwargs.get("cwd", Path.cwd())
            return self.connection_info

    return WarmKernelProvisioner


@functools.cache
def _quick_ready_client_class() -> type:
    """The asynchronous kernel client, ready as soon as the kernel answers on both channels."""
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient

    class QuickReadyKernelClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            """jupyter_client's check, without its last step: waiting until IOPub has been
            silent for 0.2 s. nbclient does not need that: it reads only the IOPub messages
            of the cell it runs."""
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                self.kernel_info()
                try:
                    reply = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    reply = None
                if reply is not None and reply["msg_type"] == "kernel_info_reply":
                    try:  # IOPub is connected once it delivers the kernel's status
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(reply)
                        return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if deadline is not None and time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    return QuickReadyKernelClient


def _template_main() -> None:
    """Entry point of the template process (see :class:`_KernelTemplate`)."""
    request = _template_serve(int(sys.argv[1]))
    if request is None:
        # The template has nothing to save: skip the ~0.4 s of tearing down what it imported.
        os._exit(0)
    if "call" in request:
        _carry_out_call(request)  # (in a forked child; ends it)
    try:  # in a forked child
        _prepare_kernel(request)
    except BaseException:
        import traceback

        traceback.print_exc()
        os._exit(1)
    from ipykernel import kernelapp

    code = 0
    try:
        launch_kernel()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    # The control thread may still be answering the shutdown request, which flushes output
    # through the IOPub thread; ipykernel's atexit handler stops IOPub, then waits for the
    # control thread. Let the control thread finish first, or each waits for the other.
    app = kernelapp.IPKernelApp.instance() if kernelapp.IPKernelApp.initialized() else None
    control = getattr(app, "control_thread", None)
    if control is not None and control.is_alive():
        control.join(timeout=5)
    _end_process(code)


def _template_serve(listener_fd: int) -> dict | None:
    """Import the kernel's modules, then fork a kernel per request until the lifeline closes.

    Returns only in a forked child, with the request it is to carry out.
    """
    import gc
    import importlib
    import selectors

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the reports' processes
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does; IPython puts the notebook folder back
    listener = socket.socket(fileno=listener_fd)  # requests wait on it while the imports run
    available = True
    for name in WARM_KERNEL_MODULES:
        if select.select([sys.stdin], [], [], 0)[0] and not os.read(sys.stdin.fileno(), 4096):
            os._exit(0)  # the lifeline closed while importing: the run ended (e.g. its inputs were refused)
        try:
            importlib.import_module(name)
        except Exception:
            available = available and not name.startswith("ipykernel")
    # What is imported now lives as long as any kernel: keep it out of the kernels' garbage
    # collections (which then scan only the notebook's objects) and of copy-on-write.
    gc.collect()
    gc.freeze()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listener")
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "lifeline")
    selector.register(wake_read, selectors.EVENT_READ, "wake")
    kernels: dict[int, socket.socket | None] = {}  # None once the asker has gone (kernels and calls)
    later: list[tuple[str, str]] = []  # preparations (name, call) to make while no fork waits for them
    waiting: list[tuple[socket.socket, dict, list[int]]] = []  # forks asked for, each waiting for a preparation

    def pending(request: dict) -> list[str]:
        """The preparations a fork waits for that are still to be made (in the order it named them)."""
        names = {name for name, _ in later}
        return [name for name in request.get("after") or () if name in names]

    def prepare(name: str) -> None:
        for i, (queued, call) in enumerate(later):
            if queued == name:
                del later[i]
                _warm_template(call)
                return

    def fork(connection: socket.socket, request: dict, fds: list[int]) -> dict | None:
        """Fork the kernel (or call) asked for: the request in the child, None here."""
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # or the kernel would write what is buffered here again
        pid = os.fork()
        if pid == 0:  # the kernel-to-be: drop everything of the template's
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            selector.close()
            for other in (listener, connection, *(w[0] for w in waiting), *filter(None, kernels.values())):
                other.close()
            for other_fds in (w[2] for w in waiting):
                for fd in other_fds:
                    os.close(fd)
            os.close(wake_read)
            os.close(wake_write)
            request["fds"] = fds
            return request
        for fd in fds:
            os.close(fd)
        kernels[pid] = connection
        selector.register(connection, selectors.EVENT_READ, pid)
        with contextlib.suppress(OSError):
            connection.sendall(b"pid %d\n" % pid)
        return None

    def reap() -> None:
        while kernels:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            connection = kernels.pop(pid, None)
            if connection is not None:
                selector.unregister(connection)
                with contextlib.suppress(OSError):
                    connection.sendall(b"exit %d\n" % os.waitstatus_to_exitcode(status))
                connection.close()

    while True:
        events = selector.select(timeout=0 if later else 1.0)
        for key, _ in events:
            if key.data == "lifeline":
                if not os.read(key.fd, 4096):
                    for pid in list(kernels):
                        with contextlib.suppress(OSError):
                            os.killpg(pid, signal.SIGKILL)
                    for pid in list(kernels):
                        with contextlib.suppress(ChildProcessError):
                            os.waitpid(pid, 0)
                    return None
            elif key.data == "wake":
                with contextlib.suppress(OSError):
                    os.read(wake_read, 4096)
            elif key.data == "listener":
                received = _template_receive(listener)
                if received is None:
                    continue
                connection, request, fds = received
                if "warm" in request:  # no kernel: prepare what the kernels to come will use
                    connection.close()
                    if available and request.get("name"):
                        later.append((request["name"], request["warm"]))
                    elif available:
                        _warm_template(request["warm"])
                    continue
                if not available:
                    with contextlib.suppress(OSError):
                        connection.sendall(b"unavailable\n")
                    connection.close()
                    for fd in fds:
                        os.close(fd)
                    continue
                if pending(request):
                    waiting.append((connection, request, fds))
                    continue
                if (child := fork(connection, request, fds)) is not None:
                    return child
            else:  # the process that asked for this kernel closed its end: kill the kernel
                try:
                    gone = not key.fileobj.recv(4096)
                except OSError:
                    gone = True
                if gone:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    kernels[key.data] = None
                    with contextlib.suppress(OSError):
                        os.killpg(key.data, signal.SIGKILL)
        if waiting:
            # Make what a waiting fork needs, the first of it in the queue (each job's first step
            # is queued before any job's second: a kernel waiting for its analysis is not kept
            # behind another's disclosure plan), then fork every fork that needs nothing more, in
            # the order they were asked for.
            needed = {name for _, request, _ in waiting for name in pending(request)}
            prepare(next(name for name, _ in later if name in needed))
            for connection, request, fds in [w for w in waiting if not pending(w[1])]:
                waiting.remove((connection, request, fds))
                if (child := fork(connection, request, fds)) is not None:
                    return child
        elif later and not events:
            _warm_template(later.pop(0)[1])
        reap()


def _warm_template(call: str) -> None:
    """In the template: make what the kernels (and calls) forked afterwards inherit, by calling
    the function a report's process sent (:func:`warm_template_with`), e.g. reading the export
    the reports will read (:func:`~escalation_analysis.measures.analysis_cache.keep_export`).
    Whatever goes wrong is left to the forks, which then make it themselves and say what is
    wrong."""
    import gc

    try:
        function, args = _unpacked(call)
        function(*args)
    except Exception:
        return
    gc.collect()
    gc.freeze()  # as for the imports: out of the kernels' garbage collections and copy-on-write


def read_export(files: dict[str, str]) -> None:
    """In the template: read the export the reports will read (``files``: export, mapping and
    pathway by name), so that each kernel forked afterwards inherits it
    (:func:`~escalation_analysis.measures.analysis_cache.keep_export`)."""
    from ..ingest.inputs import InputFiles
    from ..measures.analysis_cache import keep_export

    keep_export(InputFiles(**files))


def warm_template_with(address: str | None, function: Callable[..., Any], *args: Any, name: str | None = None) -> None:
    """Ask the template at ``address`` to call ``function(*args)`` for the forks to come to inherit.

    ``function`` and ``args`` must be picklable (a module-level function, or a method of an
    instance of a module-level class). The request is queued before any kernel's. Without a
    ``name`` the template makes it at once, so every kernel of the run inherits it. With a
    ``name`` it is made while no fork is waiting for the template, or first, before the forks,
    if a fork asked for after it (its asker's :func:`_using_warm_kernels` ``after`` names it).
    Nothing fails if it cannot be done: a fork that asked for after it is then forked without
    it, and makes it itself.
    """
    if address is None:
        return
    try:
        request = json.dumps({"warm": _packed(function, args), "name": name}).encode("utf-8")
    except Exception:  # (not picklable: the forks make it themselves)
        return
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(5)
        connection.connect(address)
        connection.sendall(struct.pack("!I", len(request)) + request)


def _packed(function: Callable[..., Any], args: tuple) -> str:
    import base64
    import pickle

    return base64.b64encode(pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")


def _unpacked(packed: str) -> tuple[Callable[..., Any], tuple]:
    import base64
    import pickle

    return pickle.loads(base64.b64decode(packed))  # sent by this user's own report process


# --------------------------------------------------------------------------------------------
# Calls in a fork of the template
# --------------------------------------------------------------------------------------------
#
# Work a report's process does after its notebook (a review's summary, disclosure audit and
# privacy gate) needs the export and its analysis, which the template has already read and
# made for the kernels. Instead of reading and analysing again, the report's process can have
# that work done in a fork of the template (call_in_template): a process that inherits them
# and has never run a notebook's code. The fork's exit is reported as a kernel's is; closing
# the connection that asked (Ctrl-C in the report's process) makes the template kill it.

#: What :func:`call_in_template` gives when no template could make the call.
NOT_CALLED = object()


def warm_kernel_address() -> str | None:
    """The template this process uses while it runs a report, if any."""
    return _warm_kernel_address


def call_in_template(address: str | None, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` run in a fork of the template at ``address``: what it returns, or
    the exception it raised, raised here. :data:`NOT_CALLED` when no template could run it
    (none running, it cannot fork, or ``function`` cannot be sent): the caller then calls it
    itself. The function and its result travel pickled; the fork writes to this process's
    standard error and works in its folder and environment."""
    if address is None:
        return NOT_CALLED
    try:
        request = json.dumps({"call": _packed(function, args), "env": dict(os.environ),
                              "cwd": os.getcwd(), "after": list(_warm_kernel_after)}).encode("utf-8")
    except Exception:
        return NOT_CALLED
    result_read, result_write = os.pipe()
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            reply = _ask_template(connection, address, request, [result_write, 2])
        except OSError:
            return NOT_CALLED
        finally:
            os.close(result_write)  # the fork holds the only other copy: its end is the end of the result
        if not reply.startswith(b"pid "):
            return NOT_CALLED
        connection.settimeout(None)
        try:
            with open(result_read, "rb", closefd=False) as result:
                outcome = result.read()
        except BaseException:  # Ctrl-C here: the fork stops before this process goes on (and discards its files)
            _stop_call(int(reply.split(b"\n", 1)[0].removeprefix(b"pid ")))
            raise
    finally:
        connection.close()  # (were the fork still running, the template would kill it)
        os.close(result_read)
    if not outcome:
        raise ChildProcessError("The process making the call stopped before it gave a result.")
    import pickle

    succeeded, value = pickle.loads(outcome)  # written by the fork, a copy of this user's template
    if succeeded:
        return value
    raise value


def _stop_call(pid: int) -> None:
    """Kill a fork making a call (with anything it started), and wait until it has ended."""
    for kill in (os.killpg, os.kill):  # (its own process group, once it has made one)
        with contextlib.suppress(OSError):
            kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _carry_out_call(request: dict) -> None:
    """In a fork of the template: make the call, write its pickled outcome, end (never returns)."""
    import pickle
    import traceback

    code = 0
    try:
        result_fd = request["fds"][0]  # (the asker reads the outcome there; its output goes nowhere)
        _as_asked(request, output=os.open(os.devnull, os.O_WRONLY))
        function, args = _unpacked(request["call"])
        try:
            outcome = (True, function(*args))
        except Exception as exc:
            outcome = (False, exc)
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # (a result or an exception that cannot be pickled: its words)
            failure = exc if outcome[0] else outcome[1]
            data = pickle.dumps((False, RuntimeError(f"{type(failure).__name__}: {failure}")))
        with open(result_fd, "wb") as result:
            result.write(data)
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _template_receive(listener: socket.socket) -> tuple[socket.socket, dict, list[int]] | None:
    """Accept one request: its length, standard output and error, then the JSON itself."""
    connection, _ = listener.accept()
    fds: list[int] = []
    try:
        connection.settimeout(10)
        header, fds, _, _ = socket.recv_fds(connection, 4, 2)
        while len(header) < 4:
            more = connection.recv(4 - len(header))
            if not more:
                raise OSError("short request")
            header += more
        size = struct.unpack("!I", header)[0]
        payload = b""
        while len(payload) < size:
            more = connection.recv(min(size - len(payload), 1 << 20))
            if not more:
                raise OSError("short request")
            payload += more
        request = json.loads(payload)
        if len(fds) != 2 and not (isinstance(request, dict) and "warm" in request and not fds):
            raise OSError("no standard output and error")
        connection.settimeout(None)
        return connection, request, fds
    except (OSError, ValueError):
        for fd in fds:
            os.close(fd)
        connection.close()
        return None


def _as_asked(request: dict, *, output: int) -> None:
    """In a fork of the template: become the process the asker asked for, as a child of its own
    would be: a process group of its own (as jupyter_client starts kernels, and so that the
    template can kill it with all it started), nothing on standard input, ``output`` as standard
    output and the asker's standard error, the asker's folder and environment, and a fresh
    global random state."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for target, fd in ((1, output), (2, request["fds"][1])):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()


def _prepare_kernel(request: dict) -> None:
    """In a fork of the template: set up as ``python -m ipykernel_launcher <args>`` would be."""
    import importlib.util

    _as_asked(request, output=request["fds"][0])
    os.environ["JPY_PARENT_PID"] = str(os.getppid())
    spec = importlib.util.find_spec("ipykernel_launcher")
    sys.argv = [
        spec.origin if spec and spec.origin else "ipykernel_launcher",
        *request["args"],
        # ipykernel read JPY_PARENT_PID when the template imported it: say it again, so the
        # kernel ends by itself if the template dies.
        f"--IPKernelApp.parent_handle={os.getppid()}",
    ]


def _end_process(code: int) -> None:
    """End as a finished Python process does, without tearing down every module.

    Threads are joined, ``atexit`` handlers run (IPython's clears the user namespace, which
    closes and flushes what the notebook left open) and output is flushed; the ~0.4 s of
    module teardown that follows at a normal exit with pandas, scipy and pandera loaded is
    skipped, as a multiprocessing child skips it.
    """
    import atexit
    import gc
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_functions is None:
        sys.exit(code)
    run_exit_functions()
    gc.collect()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
