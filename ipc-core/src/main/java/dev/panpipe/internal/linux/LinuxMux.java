package dev.panpipe.internal.linux;

import dev.panpipe.bindings.BrokenPipeException;
import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.internal.LineSplitter;
import dev.panpipe.internal.PrivateTempDirectory;
import dev.panpipe.io.Fifo;
import dev.panpipe.io.ReadEnd;
import dev.panpipe.process.ChildLostException;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.ExpectationFailedException;
import dev.panpipe.process.Mux;
import dev.panpipe.process.MuxBuilder;
import dev.panpipe.process.ProgramNotFoundException;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Signals;
import dev.panpipe.process.SpawnException;
import dev.panpipe.process.Subprocess;
import dev.panpipe.process.SubprocessBuilder;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * {@link Mux} on Linux: one {@link EventLoop} watches every child's stdout, stderr, stdin (when bytes wait
 * for it) and pidfd, every FIFO and this process's stdin.
 *
 * <h2>FIFOs between writers</h2>
 * Each {@code NAME.in} is opened here for reading (non-blocking) and, at once, for writing as well, and
 * that idle write end is held until close. With a writer always present the FIFO never reports hangup or
 * end of file when an outside writer closes, so the loop neither spins on POLLHUP nor has to reopen the
 * FIFO between writers, no byte is lost in a reopen window, and an outside {@code echo hi > NAME.in}
 * never blocks waiting for a reader. The price: the child's stdin does not end when a writer closes (it
 * ends with {@link #endInput} or close).
 *
 * <h2>Threads and state</h2>
 * Handlers and {@link EventLoop#execute} tasks run on the loop thread and own the per-child input queue,
 * splitters and registrations. What callers wait for (lines kept for {@link #expect}, exits) is guarded
 * by {@code lock} and signalled through {@code changed}.
 */
public final class LinuxMux implements Mux {
    private static final int CHUNK = 64 * 1024;
    /** Reads per readiness event per fd, so one chatty child cannot starve the others. */
    private static final int READS_PER_WAKEUP = 16;
    /** Reads when a child has exited or the mux stops: what is in the pipe now, but not a never-ending writer. */
    private static final int READS_AT_END = 256;
    private static final long BACKLOG_BYTES = 4L << 20;

    private final EventLoop loop;
    private final Map<String, Child> children = new LinkedHashMap<>();
    private final OutputStream out;
    private final Consumer<Line> onLine;
    private final Consumer<String> notices;
    private final Duration grace;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(CHUNK);    // loop thread only
    private final byte[] heapBuffer = new byte[CHUNK];             // loop thread only
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final List<Exit> exits = new ArrayList<>();            // guarded by lock
    private Child firstLost;                                       // guarded by lock: see lose
    private boolean outputClosed;                                  // guarded by lock: see stopReadingOutput
    private boolean outputStopQueued;                              // loop thread only: see closeOutput
    private Path fifoDirectory;
    private boolean createdDirectory;
    private ControlInput control;
    private volatile boolean stopping;
    private boolean closed;                                        // guarded by this
    private boolean outputFailed;                                  // loop thread only

    private LinuxMux(MuxBuilder b, EventLoop loop) {
        this.loop = loop;
        this.out = b.output() == null ? null : new BufferedOutputStream(b.output(), CHUNK);
        this.onLine = b.onLine();
        this.notices = b.notices();
        this.grace = b.grace();
    }

    public static LinuxMux start(MuxBuilder b) throws IOException {
        // Every program first: a missing one starts nothing and creates nothing.
        for (Map.Entry<String, SubprocessBuilder> e : b.children().entrySet()) {
            try {
                e.getValue().resolveProgram();
            } catch (ProgramNotFoundException p) {
                throw new ProgramNotFoundException(p.program(), "child " + e.getKey() + ": " + p.getMessage(), p, p.exists());
            } catch (SpawnException s) {
                throw new SpawnException(s.program(), "child " + e.getKey() + ": " + s.getMessage(), s);
            }
        }
        LinuxMux mux = new LinuxMux(b, EventLoop.start("panpipe-mux"));
        try {
            if (b.fifos()) mux.createFifoDirectory(b.fifoDirectory());
            for (Map.Entry<String, SubprocessBuilder> e : b.children().entrySet()) {
                mux.startChild(e.getKey(), e.getValue());
            }
            if (b.routesStandardInput()) mux.routeStandardInput();
            return mux;
        } catch (IOException | RuntimeException e) {
            try {
                mux.close();
            } catch (IOException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private void createFifoDirectory(Path requested) throws IOException {
        var privateDir = PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
        if (requested == null) {
            fifoDirectory = PrivateTempDirectory.create("panpipe-mux-");   // and removes those of killed muxes
            createdDirectory = true;
        } else if (Files.isDirectory(requested)) {
            fifoDirectory = requested.toAbsolutePath();
        } else {
            fifoDirectory = Files.createDirectory(requested, privateDir).toAbsolutePath();   // fails if it exists as a file
            createdDirectory = true;
        }
    }

    private void startChild(String name, SubprocessBuilder spec) throws IOException {
        Child c = new Child(name);
        children.put(name, c);
        if (fifoDirectory != null) {
            c.fifo = Fifo.create(fifoDirectory, name + ".in");
            LinuxPipe ends = (LinuxPipe) c.fifo.openBoth();
            c.fifoIn = ends.readEnd();
            c.fifoKeepAlive = ends.writeEnd();
            c.fifoIn.blocking(false);
            spec.environment("PANPIPE_MUX_DIR", fifoDirectory.toString());
        }
        spec.environment("PANPIPE_MUX_NAME", name);
        spec.stdin(Redirect.pipe()).stdout(Redirect.pipe()).stderr(Redirect.pipe()).newProcessGroup(true);
        Subprocess started;
        try {
            started = spec.start();
        } catch (ProgramNotFoundException p) {
            throw new ProgramNotFoundException(p.program(), "child " + name + ": " + p.getMessage(), p, p.exists());
        } catch (SpawnException s) {
            throw new SpawnException(s.program(), "child " + name + ": " + s.getMessage(), s);
        }
        c.process = (LinuxSubprocess) started;
        if (c.process.pidfd() == null) throw new SpawnException(name, "child " + name + ": mux needs pidfd_open (Linux 5.3 or newer)", null);
        c.stdin = (FdWriteEnd) c.process.stdin();
        c.stdin.blocking(false);
        c.out = new ChildOutput(c, Stream.STDOUT, (FdReadEnd) c.process.stdout());
        c.err = new ChildOutput(c, Stream.STDERR, (FdReadEnd) c.process.stderr());
        // Every registration says what its failure means: a handler that throws is cancelled, and what it
        // was to deliver would otherwise simply stop (an exit never recorded leaves await waiting for ever).
        c.stdinRegistration = loop.register(c.stdin.handle(), 0, EventLoop.handler((r, events) -> stdinReady(c, r, events), e -> stdinFailed(c, e)));
        c.out.registration = loop.register(c.out.end.handle(), EventLoop.READABLE, c.out);
        c.err.registration = loop.register(c.err.end.handle(), EventLoop.READABLE, c.err);
        c.exitRegistration = loop.register(c.process.pidfd(), EventLoop.READABLE, EventLoop.handler((r, events) -> exited(c, r), e -> lose(c, e)));
        if (c.fifoIn != null) {
            c.fifoRegistration = loop.register(c.fifoIn.handle(), EventLoop.READABLE, EventLoop.handler((r, events) -> readFifo(c, r), e -> fifoFailed(c, e)));
        }
    }

    private void routeStandardInput() throws IOException {
        int fd;
        try {
            fd = Syscalls.fcntl(0, linux_h.F_DUPFD_CLOEXEC(), 3);
        } catch (SyscallException e) {
            if (e.errno() == Errno.EBADF) return;      // no stdin at all: nothing to route
            throw e;
        }
        // Shared with whoever else has our stdin: its blocking mode is left alone, and each read is
        // preceded by a poll, so the loop never blocks in it.
        FdReadEnd end = new FdReadEnd(FdHandle.ownShared(fd, "stdin"));
        end.blocking(false);
        control = new ControlInput(end);
        try {
            control.registration = loop.register(end.handle(), EventLoop.READABLE, control);
        } catch (SyscallException e) {
            if (e.errno() != Errno.EPERM) {
                end.close();
                throw e;
            }
            // A regular file or /dev/null: epoll refuses what is always readable. Read it in loop tasks instead.
            loop.execute(control::pumpWithoutEpoll);
        }
    }

    // ------------------------------------------------------------------------------- loop thread

    /** A child's stdout or stderr, cut into lines. */
    private final class ChildOutput implements EventLoop.Handler {
        final Child child;
        final Stream kind;
        final FdReadEnd end;
        final LineSplitter splitter = new LineSplitter(MuxBuilder.MAX_LINE);
        final LineSplitter.Sink sink;
        EventLoop.Registration registration;
        boolean ended;

        ChildOutput(Child child, Stream kind, FdReadEnd end) {
            this.child = child;
            this.kind = kind;
            this.end = end;
            this.sink = (line, complete) -> deliver(new Line(child.name, kind, line, complete));
            end.blocking(false);
        }

        @Override
        public void ready(EventLoop.Registration r, int events) throws IOException {
            registration = r;       // may run before startChild has stored it: endStream must cancel it
            read(READS_PER_WAKEUP);
            flushOutput();
        }

        @Override
        public void failed(EventLoop.Registration r, Throwable error) {
            notices.accept(child.name + ": reading its " + kind.name().toLowerCase() + " failed: " + error);
            endStream();
        }

        void read(int maxReads) throws IOException {
            // No read once closeOutput has been called from this thread: what is still in the pipe is dropped unread.
            for (int i = 0; i < maxReads && !ended && !outputStopQueued; i++) {
                long n = end.read(buffer);
                if (n == 0) return;
                if (n == ReadEnd.EOF) {
                    endStream();
                    return;
                }
                MemorySegment.copy(buffer, ValueLayout.JAVA_BYTE, 0, heapBuffer, 0, (int) n);
                splitter.feed(heapBuffer, 0, (int) n, sink);
            }
        }

        /**
         * What the pipe holds now (bounded, against a writer that never stops). Once the child has exited
         * its own write end is closed, so this ends with end of file, and delivers a last line left without a
         * newline, unless something the child started still holds the pipe: then reading goes on.
         */
        void drain() {
            try {
                read(READS_AT_END);
            } catch (IOException | RuntimeException e) {
                notices.accept(child.name + ": reading its " + kind.name().toLowerCase() + " failed: " + e);
                endStream();
            }
        }

        void endStream() {
            if (ended) {
                return;
            }
            ended = true;
            // The fd before the last line: a consumer that throws on that line (notices, say) must not leave
            // it open, or a child that writes on would never meet EPIPE (see stopReadingOutput).
            if (registration != null) registration.cancel();
            end.close();
            splitter.finish(sink);
        }
    }

    private void deliver(Line line) {
        Child c = children.get(line.child());
        if (out != null && !outputFailed) {
            try {
                out.write(c.prefix);
                out.write(line.bytes());
                out.write('\n');
            } catch (IOException e) {
                outputFailed = true;
                notices.accept("writing the output failed, further lines are dropped: " + e.getMessage());
            }
        }
        if (onLine != null) {
            try {
                onLine.accept(line);
            } catch (RuntimeException e) {
                notices.accept("line handler failed on " + line + ": " + e);
            }
        }
        lock.lock();
        try {
            c.backlog.addLast(line);
            c.backlogBytes += line.bytes().length;
            while (c.backlog.size() > MuxBuilder.BACKLOG_LINES || c.backlogBytes > BACKLOG_BYTES) {
                c.backlogBytes -= c.backlog.removeFirst().bytes().length;
            }
            c.recent.addLast(line);
            if (c.recent.size() > MuxBuilder.RECENT_LINES) c.recent.removeFirst();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void flushOutput() {
        if (out == null || outputFailed) return;
        try {
            out.flush();
        } catch (IOException e) {
            outputFailed = true;
            notices.accept("writing the output failed, further lines are dropped: " + e.getMessage());
        }
    }

    /**
     * {@link #closeOutput}: every child's stdout and stderr ended here, unread. This process holds the only
     * read ends (a child gets just its own three fds: see LinuxSpawner), so once they are closed a child's
     * next write meets a pipe without readers: SIGPIPE, or EPIPE if it ignores that. The streams first, each
     * delivering its unfinished line, then expect is told, so a waiter that wakes has every line there will
     * be. A consumer that throws on one last line (notices) ends neither the other streams nor that telling.
     */
    private void stopReadingOutput() {
        RuntimeException failure = null;
        for (Child c : children.values()) {
            for (ChildOutput o : new ChildOutput[] {c.out, c.err}) {
                if (o == null) continue;        // a child whose start failed
                try {
                    o.endStream();
                } catch (RuntimeException e) {
                    if (failure == null) failure = e; else failure.addSuppressed(e);
                }
            }
        }
        lock.lock();
        try {
            outputClosed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        flushOutput();
        if (failure != null) throw failure;     // to the loop thread's uncaught-exception handler, as a task's
    }

    /**
     * The pidfd is readable: take what the child wrote before it ended, then record the exit. The child
     * is left unreaped (a zombie) until close, so the number of the process group it leads stays its own
     * and close can still signal what it left running in that group (unless the caller reaps it first,
     * through {@code process(name)}: see groupLeftAlone).
     */
    private void exited(Child c, EventLoop.Registration r) throws IOException {
        r.cancel();         // not c.exitRegistration: a child that ends at once is seen before startChild stores it
        ExitStatus status = c.process.peekExit();
        if (status == null) throw new IllegalStateException("pidfd of " + c.name + " readable but it has not exited");
        c.out.drain();
        c.err.drain();
        flushOutput();
        closeStdin(c, !stopping);
        // What waited for the stdin is gone, so a FIFO (or this process's stdin) paused for it must be read
        // again, its bytes now dropped with a notice: the stdin's EPOLLERR, which resumes them otherwise, never
        // comes while something the child started still holds the stdin's read end.
        if (!stopping) resumeInputs(c);
        recordExit(c, status);
    }

    /**
     * How {@code c} ended cannot be known (its exit handler failed: most often someone else reaped it, and
     * waitid says ECHILD). Kept so that {@link #await} and {@link #close} report it instead of waiting for
     * an exit that will never be recorded. Any thread; the first failure per child counts.
     */
    private void lose(Child c, Throwable error) {
        String why = error instanceof SyscallException s ? s.getMessage() : error.toString();
        if (error instanceof SyscallException s && s.errno() == Errno.ECHILD) {
            why += "; it was reaped by someone else (a waitid or waitpid on its pid outside the mux)";
        }
        String message = "child " + c.name + ": how it ended cannot be known: " + why;
        lock.lock();
        try {
            if (c.lost != null) return;
            c.lost = new ChildLostException(c.name, message, error);
            if (firstLost == null) firstLost = c;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        notices.accept(message);
    }

    /** A fresh exception for each throw (one instance thrown twice would collect the suppressed of both). */
    private static ChildLostException lostException(Child c) {
        return new ChildLostException(c.lost.child(), c.lost.getMessage(), c.lost.getCause());
    }

    private void recordExit(Child c, ExitStatus status) {
        lock.lock();
        try {
            if (c.exit != null) return;
            c.exit = status;
            exits.add(new Exit(c.name, status, !stopping));
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void enqueue(Child c, byte[] bytes) {
        if (c.stdinClosed || c.endInputRequested) {
            notices.accept(c.name + (c.exit != null ? " has exited" : "'s stdin is closed") + ": " + bytes.length + " bytes for it dropped");
            return;
        }
        c.pending.addLast(bytes);
        c.pendingBytes += bytes.length;
        writePending(c);
    }

    /**
     * The child's stdin has room, or its reader is gone: epoll reports EPOLLERR for a pipe without readers
     * whatever the interest, even 0, so that has to close the stdin here, or the loop would spin on it for
     * as long as the child lives. Bytes still waiting meet EPIPE first, and are reported dropped.
     */
    private void stdinReady(Child c, EventLoop.Registration r, int events) {
        c.stdinRegistration = r;     // the same; but a child that closes its stdin at once is seen before startChild stores it
        writePending(c);
        if ((events & EventLoop.HANGUP) != 0) closeStdin(c, true);
    }

    /** Writes what waits for the child's stdin, as much as the pipe takes now; watches for room if some is left. */
    private void writePending(Child c) {
        if (c.stdinClosed) return;
        try {
            while (!c.pending.isEmpty()) {
                byte[] head = c.pending.peekFirst();
                int n = c.stdin.write(head, c.pendingOffset, head.length - c.pendingOffset);
                c.pendingOffset += n;
                c.pendingBytes -= n;
                if (c.pendingOffset < head.length) {
                    c.stdinRegistration.interest(EventLoop.WRITABLE);
                    return;
                }
                c.pending.removeFirst();
                c.pendingOffset = 0;
            }
            c.stdinRegistration.interest(0);
            if (c.endInputRequested) closeStdin(c, false);
        } catch (BrokenPipeException e) {
            closeStdin(c, true);
        } catch (IOException | RuntimeException e) {
            stdinFailed(c, e);
        } finally {
            resumeInputs(c);
        }
    }

    /** Writing the child's stdin failed (not EPIPE): it is closed, so the child sees its input end, and later bytes are dropped with a notice. */
    private void stdinFailed(Child c, Throwable e) {
        notices.accept(c.name + ": writing its stdin failed, closing it: " + (e instanceof IOException ? e.getMessage() : e.toString()));
        closeStdin(c, true);
        resumeInputs(c);
    }

    /**
     * The child's FIFO can no longer be read: reading it failed (not to be expected of a pipe, whose read
     * fails only with EAGAIN or EINTR, both handled), or a step around the read did (pausing or resuming it,
     * the notice of {@link #dropFifoInput}), or the loop itself. Its registration is gone. Left open but
     * unread, it would block its writers for ever once full, so the mux's two ends are closed: a writer's
     * next write gets EPIPE. One that opens it after this waits in open for a reader, as with any FIFO
     * nobody reads, until close lets it through (see close).
     */
    private void fifoFailed(Child c, Throwable e) {
        if (c.fifoClosedEarly) return;
        c.fifoClosedEarly = true;
        c.fifoIn.close();
        c.fifoKeepAlive.close();
        notices.accept(c.name + ": reading " + c.fifo.path() + " failed, so it is closed (its writers get EPIPE) and what is"
                + " written into it no longer reaches " + c.name + ": " + e);
    }

    /**
     * Passing on what was read from the child's FIFO failed ({@code error}, thrown by something enqueue
     * calls: a notices consumer that throws, say). Those bytes may or may not have reached the child, so
     * its input from the FIFO has a hole here: nothing more is passed on, rather than bytes after a gap.
     * But the FIFO is still read, and no longer paused for backpressure (nothing from it waits for the
     * child), or its writers would block for ever once it is full; what comes is counted and dropped (the
     * count is told at close), and a notice says so now.
     */
    private void dropFifoInput(Child c, RuntimeException error) {
        c.fifoDropping = true;
        notices.accept(c.name + ": passing on what was read from " + c.fifo.path() + " failed (" + error + "): from now on"
                + " what is written into it is read and dropped, so that its writers do not block");
    }

    private void closeStdin(Child c, boolean reportDropped) {
        if (c.stdinClosed) return;
        c.stdinClosed = true;
        long dropped = c.pendingBytes;
        c.pending.clear();
        c.pendingBytes = 0;
        if (c.stdinRegistration != null) c.stdinRegistration.cancel();
        c.stdin.close();
        // The notice last: a notices consumer that throws must not leave the fd open (epoll would report its
        // EPOLLERR for ever, and the loop spin on it).
        if (reportDropped && dropped > 0) notices.accept(c.name + " does not read its stdin any more: " + dropped + " bytes for it dropped");
    }

    /**
     * Moves what the FIFO holds to the child's stdin queue. A failure to pass bytes on drops the FIFO's
     * input from then on (see dropFifoInput); one to read it, or anything this throws, ends in fifoFailed.
     */
    private void readFifo(Child c, EventLoop.Registration r) throws IOException {
        for (int i = 0; i < READS_PER_WAKEUP && !c.fifoClosedEarly; i++) {
            if (!c.fifoDropping && c.pendingBytes > MuxBuilder.MAX_PENDING_INPUT) {
                r.interest(0);                        // the bytes stay in the FIFO, and its writers block: backpressure
                return;
            }
            long n = c.fifoIn.read(buffer);
            if (n <= 0) return;                       // 0: nothing now; EOF cannot come while we hold a writer
            if (c.fifoDropping) {
                c.fifoDropped += n;
                continue;
            }
            try {
                enqueue(c, buffer.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE));
            } catch (RuntimeException e) {
                dropFifoInput(c, e);
            }
        }
    }

    private void resumeInputs(Child c) {
        if (c.pendingBytes > MuxBuilder.MAX_PENDING_INPUT / 2) return;
        if (c.fifoRegistration != null && c.fifoRegistration.interest() == 0 && !stopping) {
            try {
                c.fifoRegistration.interest(EventLoop.READABLE);
            } catch (IOException e) {
                c.fifoRegistration.cancel();    // left paused, it would block its writers for ever
                fifoFailed(c, e);
            }
        }
        try {
            if (control != null && control.pausedFor == c) control.resume();
        } catch (IOException e) {
            notices.accept("resuming input for " + c.name + " failed: " + e);
        }
    }

    /** This process's stdin: lines {@code NAME: text}. */
    private final class ControlInput implements EventLoop.Handler {
        final FdReadEnd end;
        final LineSplitter splitter = new LineSplitter(MuxBuilder.MAX_LINE);
        final LineSplitter.Sink sink = this::route;
        EventLoop.Registration registration;     // null when read in loop tasks (a regular file, /dev/null)
        Child pausedFor;
        boolean ended;

        ControlInput(FdReadEnd end) {
            this.end = end;
        }

        @Override
        public void ready(EventLoop.Registration r, int events) throws IOException {
            pump();
        }

        @Override
        public void failed(EventLoop.Registration r, Throwable error) {
            notices.accept("reading stdin failed: " + error);
            stop();
        }

        void pumpWithoutEpoll() {
            try {
                pump();
                if (!ended && pausedFor == null) loop.execute(this::pumpWithoutEpoll);
            } catch (IOException | RuntimeException e) {
                failed(null, e);
            }
        }

        void pump() throws IOException {
            for (int i = 0; i < READS_PER_WAKEUP && !ended && pausedFor == null; i++) {
                long n = end.read(buffer);
                if (n == 0) return;
                if (n == ReadEnd.EOF) {
                    splitter.finish(sink);
                    stop();
                    return;
                }
                MemorySegment.copy(buffer, ValueLayout.JAVA_BYTE, 0, heapBuffer, 0, (int) n);
                splitter.feed(heapBuffer, 0, (int) n, sink);
            }
        }

        private void route(byte[] line, boolean complete) {
            int colon = -1;
            for (int i = 0; i < line.length; i++) {
                if (line[i] == ':') {
                    colon = i;
                    break;
                }
            }
            String text = new String(line, StandardCharsets.UTF_8);
            if (text.isBlank()) return;
            if (colon <= 0) {
                notices.accept("stdin: not of the form 'NAME: text', ignored: " + text);
                return;
            }
            String name = new String(line, 0, colon, StandardCharsets.UTF_8);
            Child c = children.get(name);
            if (c == null) {
                notices.accept("stdin: no child named '" + name + "' (children: " + String.join(", ", children.keySet()) + "), ignored: " + text);
                return;
            }
            int from = colon + 1 < line.length && line[colon + 1] == ' ' ? colon + 2 : colon + 1;
            byte[] payload = Arrays.copyOfRange(line, from, line.length + 1);
            payload[payload.length - 1] = '\n';
            enqueue(c, payload);
            if (c.pendingBytes > MuxBuilder.MAX_PENDING_INPUT) pause(c);
        }

        private void pause(Child c) {
            pausedFor = c;
            try {
                if (registration != null) registration.interest(0);
            } catch (IOException e) {
                failed(registration, e);
            }
        }

        void resume() throws IOException {
            pausedFor = null;
            if (ended) return;
            if (registration != null) {
                registration.interest(EventLoop.READABLE);
            } else {
                loop.execute(this::pumpWithoutEpoll);
            }
        }

        void stop() {
            ended = true;
            if (registration != null) registration.cancel();
            end.close();
        }
    }

    // ------------------------------------------------------------------------------- API

    private Child child(String name) {
        Child c = children.get(name);
        if (c == null) throw new IllegalArgumentException("no child named " + name + " (children: " + String.join(", ", children.keySet()) + ")");
        return c;
    }

    @Override
    public List<String> names() {
        return List.copyOf(children.keySet());
    }

    @Override
    public Subprocess process(String child) {
        return child(child).process;
    }

    @Override
    public Optional<Path> fifoDirectory() {
        return Optional.ofNullable(fifoDirectory);
    }

    @Override
    public Optional<Path> fifo(String child) {
        Child c = child(child);
        return c.fifo == null ? Optional.empty() : Optional.of(c.fifo.path());
    }

    @Override
    public void send(String child, byte[] bytes) {
        Child c = child(child);
        byte[] copy = bytes.clone();
        if (!loop.execute(() -> enqueue(c, copy))) throw new IllegalStateException("mux is closed");
    }

    @Override
    public void endInput(String child) {
        Child c = child(child);
        loop.execute(() -> {
            c.endInputRequested = true;
            if (c.pending.isEmpty()) closeStdin(c, false);
        });
    }

    @Override
    public Line expect(String child, Pattern pattern, Duration timeout) throws ExpectationFailedException, InterruptedException {
        Child c = child(child);
        long left = Timeouts.nanos(timeout);   // a negative one refused, a huge one capped: never an overflow
        lock.lockInterruptibly();
        try {
            for (;;) {
                while (!c.backlog.isEmpty()) {
                    Line line = c.backlog.removeFirst();
                    c.backlogBytes -= line.bytes().length;
                    if (pattern.matcher(line.text()).find()) return line;
                }
                if (c.lost != null) {   // no exit will come, and no more lines: say so now, not at the timeout
                    throw new ExpectationFailedException(child, pattern, timeout, lostException(c), List.copyOf(c.recent));
                }
                if (outputClosed) {     // no more lines, whether the child has ended yet or not: the one reason
                    throw ExpectationFailedException.outputClosed(child, pattern, timeout, List.copyOf(c.recent));
                }
                if (c.exit != null || left <= 0) {
                    throw new ExpectationFailedException(child, pattern, timeout, c.exit, List.copyOf(c.recent));
                }
                left = changed.awaitNanos(left);
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<Line> recentLines(String child) {
        Child c = child(child);
        lock.lock();
        try {
            return List.copyOf(c.recent);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<Exit> await(Until until) throws ChildLostException, InterruptedException {
        lock.lockInterruptibly();
        try {
            for (;;) {
                if (firstLost != null) throw lostException(firstLost);
                boolean done = switch (until) {
                    case ANY -> exits.stream().anyMatch(Exit::byItself) || exits.size() == children.size();
                    case ALL -> exits.size() == children.size();
                };
                if (done) return List.copyOf(exits);
                changed.await();
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<Exit> exits() {
        lock.lock();
        try {
            return List.copyOf(exits);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Not synchronized, unlike close: the loop thread may call this (from the output stream) while close holds
     * the monitor and waits for that thread. Serialized with close's steps on the loop instead.
     */
    @Override
    public void closeOutput() {
        if (loop.inLoopThread()) {
            // It cannot wait for itself: done once the current handler returns, which reads no more meanwhile (see
            // read). Queued once: a consumer may call this on every line it is given, and a task and a wake-up for
            // each line of one wake-up's reads of a fast writer (half a million of yes's) held the stop back for
            // seconds.
            if (!outputStopQueued) {
                outputStopQueued = true;
                loop.execute(this::stopReadingOutput);
            }
        } else {
            // false: the loop has ended, and every stream with it (close's last loop task, or the loop's failure)
            awaitOnLoop(this::stopReadingOutput);
        }
    }

    @Override
    public void close() throws IOException {
        // Checked before the monitor: a close in progress on another thread holds it while it waits for this
        // thread, so even a second close from here would hang.
        if (loop.inLoopThread()) {
            throw new IllegalStateException("close() called from the mux's own thread (an output, onLine or notices "
                    + "consumer) would wait for that thread for ever: close from another thread; closeOutput() may be called here");
        }
        closeFromOutside();
    }

    private synchronized void closeFromOutside() throws IOException {
        if (closed) return;
        closed = true;
        stopping = true;
        List<IOException> failures = new ArrayList<>();
        // 1. No more input: stdins closed (a child reading its input sees its end), FIFOs and stdin no longer read.
        runOnLoop(() -> {
            if (control != null) control.stop();
            for (Child c : children.values()) {
                if (c.fifoRegistration != null) c.fifoRegistration.cancel();
                if (c.fifoDropped > 0) {
                    notices.accept(c.name + ": " + c.fifoDropped + " bytes written into " + c.fifo.path()
                            + " after passing them on failed were dropped");
                }
                if (c.stdin != null) closeStdin(c, false);
            }
        });
        // 2. Grace period, SIGTERM to each child's process group, grace period, SIGKILL: child by child, so a
        //    failure with one spares no other its signals.
        awaitChildren(Timeouts.deadline(grace), failures);
        signalGroups(Signals.SIGTERM, failures);
        signalGroups(Signals.SIGCONT, failures);   // a stopped child handles its SIGTERM now, not never
        awaitChildren(Timeouts.deadline(grace), failures);
        signalGroups(Signals.SIGKILL, failures);
        awaitChildren(Long.MAX_VALUE, failures);
        for (Child c : children.values()) {
            if (c.process == null || c.process.reapedElsewhere()) continue;
            try {
                c.process.awaitUninterruptibly(-1);     // reaped only now that their groups are done with
            } catch (IOException e) {
                failed(c, e, failures);
            }
        }
        // 3. What the children wrote last, their exits, then the loop stops.
        runOnLoop(() -> {
            for (Child c : children.values()) {
                if (c.out == null) continue;
                c.out.drain();
                c.out.endStream();
                c.err.drain();
                c.err.endStream();
                if (c.exitRegistration != null) c.exitRegistration.cancel();
                if (c.process.reapedElsewhere()) continue;      // lost: reported below
                try {
                    c.process.exitStatus().ifPresent(s -> recordExit(c, s));
                } catch (IOException e) {
                    notices.accept(c.name + ": reaping failed: " + e);
                }
            }
            flushOutput();
        });
        loop.close();
        // 4. Descriptors, FIFOs, the directory: each on its own, so one that fails leaves none of the others open.
        for (Child c : children.values()) {
            if (c.process != null) {
                try {
                    c.process.close();
                } catch (IOException e) {
                    if (!c.process.reapedElsewhere()) failures.add(e);    // else its waitid's ECHILD: the loss, reported below
                }
            }
            if (c.fifoIn != null) c.fifoIn.close();
            if (c.fifoKeepAlive != null) c.fifoKeepAlive.close();
            if (c.fifo != null) {
                try {
                    // A writer that opened a FIFO closed early (fifoFailed) waits in open for a reader: one
                    // opened and closed at once lets it through before the name goes (its write then meets
                    // EPIPE, or fills the pipe that is about to go, as what remains in any FIFO does at close).
                    if (c.fifoClosedEarly) c.fifo.openReadEndNow().close();
                } catch (IOException e) {
                    // ENOENT: removed by someone else, so nobody can open it any more
                    if (!(e instanceof SyscallException s && s.errno() == Errno.ENOENT)) failures.add(e);
                }
                try {
                    c.fifo.close();
                } catch (IOException e) {
                    failures.add(e);
                }
            }
        }
        if (createdDirectory) {
            try {
                Files.deleteIfExists(fifoDirectory);
            } catch (DirectoryNotEmptyException e) {
                notices.accept("left " + fifoDirectory + " in place: someone else put files in it");
            } catch (IOException e) {
                failures.add(e);
            }
        }
        arena.close();
        IOException failure;
        lock.lock();
        try {
            changed.signalAll();
            failure = firstLost != null ? lostException(firstLost) : null;
        } finally {
            lock.unlock();
        }
        for (IOException e : failures) {
            if (failure == null) failure = e; else failure.addSuppressed(e);
        }
        if (failure != null) throw failure;
    }

    /** A reaping step failed for {@code c}: ECHILD means it was lost (see lose), anything else is a failure of close. */
    private void failed(Child c, IOException e, List<IOException> failures) {
        if (e instanceof SyscallException s && s.errno() == Errno.ECHILD) {
            lose(c, e);
        } else {
            failures.add(e);
        }
    }

    /** Runs {@code task} on the loop thread and waits for it, even if this thread is interrupted meanwhile. */
    private void runOnLoop(Runnable task) {
        if (!awaitOnLoop(task)) task.run();
    }

    /**
     * Runs {@code task} on the loop thread and waits for it, even if this thread is interrupted meanwhile;
     * false, and nothing run, if the loop takes no more tasks. Never from the loop thread, which would wait
     * for itself.
     */
    private boolean awaitOnLoop(Runnable task) {
        CountDownLatch done = new CountDownLatch(1);
        Runnable wrapped = () -> {
            try {
                task.run();
            } finally {
                done.countDown();
            }
        };
        if (!loop.execute(wrapped)) return false;
        Uninterruptibly.await(done);
        return true;
    }

    /**
     * Waits until every started child has ended or {@code deadline} (System.nanoTime; Long.MAX_VALUE: no
     * limit) passes, without reaping any: see {@link #signalGroups}.
     */
    private void awaitChildren(long deadline, List<IOException> failures) {
        for (Child c : children.values()) {
            if (c.process == null) continue;
            long left = deadline == Long.MAX_VALUE ? -1 : Math.max(0, (deadline - System.nanoTime()) / 1_000_000);
            try {
                c.process.awaitExitUnreaped((int) Math.min(left, Integer.MAX_VALUE));
            } catch (IOException e) {
                failed(c, e, failures);
            }
        }
    }

    /**
     * Sends {@code signal} to each child through its pidfd, and to its process group (it leads one: see
     * startChild), reaching what it started too, even after the child itself has ended: until close reaps
     * it, an ended child is a zombie, whose pid, the group's number, no other process can be given. A child
     * already reaped is the exception, by someone else (it is lost) or through its own Subprocess (the
     * caller's {@code process(name).waitFor()}): its number may be another's by now, so its group is signalled
     * through the child's pidfd, which names the group and not its number (Linux 6.9), or else left alone (see
     * groupLeftAlone).
     */
    private void signalGroups(int signal, List<IOException> failures) {
        for (Child c : children.values()) {
            if (c.process == null) continue;
            try {
                c.process.peekExit();        // learns whether it was reaped behind our back (ECHILD)
            } catch (SyscallException e) {
                failed(c, e, failures);
            }
            if (c.process.reapedElsewhere()) continue;
            boolean viaGroup = false;
            try {
                viaGroup = c.process.signalGroupUnlessReaped(signal) || c.process.signalGroupThroughPidfd(signal);
                if (!viaGroup) groupLeftAlone(c);
            } catch (SyscallException e) {
                if (e.errno() != Errno.ESRCH && e.errno() != Errno.EPERM) failures.add(e);   // else no such group (any more)
            }
            try {
                // Directly only if the group's signal missed it (it left the group: setsid): sent both ways, a
                // child got each signal twice, and one that counts its SIGTERMs, or takes a second as "now, not
                // gracefully", saw two.
                if (!viaGroup || !ProcessGroups.isMember(c.process, c.process)) c.process.signal(signal);   // through the pidfd: this very process or nobody
            } catch (IOException e) {
                failures.add(e);
            }
        }
    }

    /**
     * {@code c} was reaped through its own Subprocess before close could signal its group, so its exit is
     * known but its pid, the group's number, is no longer held by a zombie. Something it started may still
     * be in the group, and while a group has members its number is not given to another process, so a
     * kill(-pgid) would still be right at this moment; but nothing says when the last member leaves, after
     * which the number may name another process's group between our look and our kill. So the group is not
     * signalled, as that of a child reaped elsewhere is not, and what it left running there is not stopped;
     * a notice says so if the group seems to have members. Signal 0 sends nothing, so asking harms no one
     * who holds the number now, and a wrong answer costs a notice at most. Only on a kernel older than 6.9:
     * from 6.9 on, pidfd_send_signal(PIDFD_SIGNAL_PROCESS_GROUP) names the group through the child's pidfd, not
     * by number, and signalGroups stops those members with it.
     */
    private void groupLeftAlone(Child c) {
        if (c.groupLeftAlone) return;            // once, not again for SIGKILL
        c.groupLeftAlone = true;
        try {
            Syscalls.kill(-(int) c.process.pid(), 0);
        } catch (SyscallException e) {
            return;                              // ESRCH: no member left (EPERM: members, none of them ours)
        }
        notices.accept(c.name + ": reaped through its Subprocess before close, so its process group is not signalled"
                + " (its number may be another's by now): what it started in that group is left running");
    }

    @Override
    public String toString() {
        return "Mux" + children.keySet();
    }

    private final class Child {
        final String name;
        final byte[] prefix;
        LinuxSubprocess process;
        FdWriteEnd stdin;
        ChildOutput out;
        ChildOutput err;
        Fifo fifo;
        FdReadEnd fifoIn;
        FdWriteEnd fifoKeepAlive;
        EventLoop.Registration stdinRegistration;
        EventLoop.Registration exitRegistration;
        EventLoop.Registration fifoRegistration;
        boolean groupLeftAlone;                       // closing thread only: see groupLeftAlone

        // loop thread only
        final ArrayDeque<byte[]> pending = new ArrayDeque<>();
        int pendingOffset;
        long pendingBytes;
        boolean stdinClosed;
        boolean endInputRequested;
        boolean fifoDropping;                         // see dropFifoInput
        long fifoDropped;
        boolean fifoClosedEarly;                      // see fifoFailed; read by close once the loop has ended

        // guarded by lock
        final ArrayDeque<Line> backlog = new ArrayDeque<>();
        long backlogBytes;
        final ArrayDeque<Line> recent = new ArrayDeque<>();
        volatile ExitStatus exit;                     // written under lock
        ChildLostException lost;                      // see lose

        Child(String name) {
            this.name = name;
            this.prefix = (name + ": ").getBytes(StandardCharsets.UTF_8);
        }
    }
}
