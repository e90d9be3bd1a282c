"""The warm fork server (a zygote): libraries imported once, a fresh sandboxed worker forked per launch.

Run as ``python -I [-W ...] zygote_server.py LISTEN_FD MODULE...`` by :mod:`autograder.sandbox.zygote`,
as the grading user, outside every namespace, with the workers' base environment. Before it accepts
its first connection it imports ``MODULE...`` (torch, transformers, peft, ...) and warms them up on a
model of its own (no student code, no course file: a tiny random model built here), so that the first
use of each kernel is paid once, not once per worker. It never runs student code itself.

Per connection it receives three descriptors and nothing else (``SCM_RIGHTS``): the write end of the
worker's output pipe, the write end of the launcher's report pipe, and the read end of the pipe the
grader writes the launch configuration into. It forks; the child reads the configuration (the server
never does, so no launch's paths stay in its memory for the next worker to find), closes every other
descriptor, and goes through :func:`launcher.enter`, exactly the steps of a cold launch: cgroup,
namespaces, hidden paths, uid, no capabilities, ``no_new_privs``, limits. The worker then runs the
configuration's ``python -c CODE`` in this interpreter (a fresh ``__main__``, the configuration's
environment, new random seeds drawn as a new interpreter draws them) instead of exec'ing a new one. Whatever the
worker does dies with its process: the next launch is forked from the server, which nothing touched.

It forks only for a grading process: a peer under more seccomp filters than the server itself (every
worker runs under the filter its launcher added, :mod:`.seccomp`) is refused, since a worker of a grader
that is not root runs as the grader's user and Landlock does not restrict connecting to a named socket.

Replies on the connection: ``PID\\n`` with a pidfd of the child (signals reach exactly that process,
never a recycled pid), then, when it ended, ``EXITCODE\\n`` (negative: the signal that killed it),
after every process left in its session was killed. The server ends when its stdin closes (the grading
process that started it is gone).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import selectors
import signal
import socket
import struct
import sys
import traceback
import types

CONFIG_BYTES = 1 << 20


def _launcher() -> types.ModuleType:
    """:mod:`.launcher`, loaded by path: this script runs alone, outside the package."""
    spec = importlib.util.spec_from_file_location("grader_launcher", os.path.join(os.path.dirname(__file__), "launcher.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def warm_up(modules: list[str]) -> None:
    """Import ``modules`` and run what workers run first (a forward, a backward, an optimiser step, a
    PEFT wrap, two greedy tokens) on a tiny random model, single-threaded."""
    for name in modules:
        importlib.import_module(name)
    if "torch" not in modules:
        return
    import torch

    torch.set_num_threads(1)
    x = torch.randn(8, 8, requires_grad=True)
    (x @ x.T).relu().sum().backward()
    torch.linalg.svd(torch.randn(6, 4), full_matrices=False)
    torch.nn.functional.linear(torch.randn(2, 3), torch.randn(4, 3), torch.randn(4))
    if "transformers" in modules:
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)
        model = LlamaForCausalLM(config)
        if "peft" in modules:
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
        ids = torch.tensor([[1, 2, 3, 4]])
        model(input_ids=ids, labels=ids).loss.backward()
        torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3).step()
        model.eval()
        with torch.no_grad():
            model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=2, do_sample=False)
        del model


def _close_others(keep: set[int]) -> None:
    """Close every descriptor above 2 not in ``keep`` (the server's sockets, other workers' pidfds)."""
    for name in os.listdir("/proc/self/fd"):
        number = int(name)
        if number > 2 and number not in keep:
            try:
                os.close(number)
            except OSError:
                pass


def _read_config(handle: int) -> dict:
    data = bytearray()
    while len(data) <= CONFIG_BYTES and (chunk := os.read(handle, 65536)):
        data += chunk
    os.close(handle)
    return json.loads(bytes(data))


def _exit_code(error: SystemExit) -> int:
    """What ``python -c`` exits with for ``SystemExit(error.code)``."""
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code & 0xFF
    print(error.code, file=sys.stderr)
    return 1


def _fresh_process_state(env: dict[str, str]) -> None:
    """What a new interpreter would have: the configuration's environment, new random seeds, no cached
    temporary folder, an empty ``__main__``."""
    import random
    import tempfile

    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:   # a new interpreter's torch seeds itself from the system's entropy
        sys.modules["torch"].seed()
    sys.argv = ["-c"]
    sys.modules["__main__"] = types.ModuleType("__main__")


def _shut_down(code: int) -> int:
    """What an interpreter does when its program ends: wait for the threads that are not daemons, then
    run the ``atexit`` functions (a worker that relies on either behaves as in a cold launch)."""
    import atexit
    import threading

    try:
        threading._shutdown()
        atexit._run_exitfuncs()
    except SystemExit as error:
        return _exit_code(error)
    except BaseException:  # noqa: BLE001 - printed, as the interpreter prints it
        traceback.print_exc()
    return code


def run_worker(config: dict) -> None:
    """In the forked child: the launcher's steps, then the worker's code here (``python -c CODE`` of
    this interpreter) or, for any other program, exec as a cold launch does. Never returns."""
    launcher = _launcher()
    launcher.enter(config)
    argv = config["argv"]
    if not (len(argv) >= 3 and argv[-2] == "-c" and os.path.realpath(argv[0]) == os.path.realpath(sys.executable)):
        os.execve(argv[0], argv, config["env"])
    _fresh_process_state(config["env"])
    code = 0
    try:
        exec(compile(argv[-1], "<string>", "exec"), sys.modules["__main__"].__dict__)
    except SystemExit as error:
        code = _exit_code(error)
    except BaseException:  # noqa: BLE001 - as python -c: the traceback on stderr, exit 1
        traceback.print_exc()
        code = 1
    code = _shut_down(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a stream the worker's code closed or replaced
            pass
    os._exit(code)


def _child(fds: list[int], server: int) -> None:
    """The forked child: its own session, the pipes as stdout/stderr, the configuration, then the worker."""
    try:
        for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(number, signal.SIG_DFL)
        os.setsid()
        output, report, config_read = fds
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        config = _read_config(config_read)
        _close_others({report})
        config["report_fd"] = report
        config["parent"] = server   # it dies with the zygote, which dies with the grader
        run_worker(config)
    except BaseException:  # noqa: BLE001 - the grader reads how it ended from the exit code and the report
        traceback.print_exc()
    os._exit(70)


def _filters(pid: int | str) -> int:
    """How many seccomp filters the process ``pid`` runs under (``-1`` when that cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        return int(fields.get("Seccomp_filters", fields.get("Seccomp", "0")).split()[0])
    except (OSError, ValueError, IndexError):
        return -1


def _trusted_peer(connection: socket.socket) -> bool:
    """Whether the process at the other end may ask for a worker: a grading process, never a worker. A
    worker of a grader that is not root runs as the grader's user, so the socket's mode does not keep
    it out (nor does Landlock: connecting to a named socket is not a file access); but every worker runs
    under the seccomp filter its launcher added to what this server runs under, and a grading process
    under no more filters than this server."""
    try:
        pid, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError:
        return False
    peer, own = _filters(pid), _filters("self")
    return uid == os.getuid() and 0 <= peer <= own


def serve(listener: socket.socket) -> None:
    """Fork a worker per connection; report each one's pid and, when it ended, its exit code."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    running: dict[int, tuple[socket.socket, int]] = {}   # pidfd -> (connection, pid)
    server = os.getpid()
    while True:
        for key, _ in selector.select():
            if key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    for pidfd, (_, pid) in running.items():
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    return
            elif key.data == "accept":
                connection, _ = listener.accept()
                if not _trusted_peer(connection):
                    connection.close()
                    continue
                try:
                    connection.settimeout(10)
                    _, fds, _, _ = socket.recv_fds(connection, 16, 3)
                except OSError:
                    connection.close()
                    continue
                if len(fds) != 3:
                    for number in fds:
                        os.close(number)
                    connection.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    _child(fds, server)
                for number in fds:
                    os.close(number)
                pidfd = os.pidfd_open(pid)
                try:
                    socket.send_fds(connection, [f"{pid}\n".encode()], [pidfd])
                except OSError:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                running[pidfd] = (connection, pid)
                selector.register(pidfd, selectors.EVENT_READ, "child")
            else:   # a worker's launcher ended: what it left in its session goes, then it is reaped
                pidfd = key.fd
                connection, pid = running.pop(pidfd)
                selector.unregister(pidfd)
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                _, status = os.waitpid(pid, 0)
                os.close(pidfd)
                try:
                    connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                except OSError:
                    pass
                connection.close()


def main() -> None:
    listener = socket.socket(fileno=int(sys.argv[1]))
    warm_up(sys.argv[2:])
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the grading process ends it, by closing stdin
    serve(listener)


if __name__ == "__main__":
    main()
