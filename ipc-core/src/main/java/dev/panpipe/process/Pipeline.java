package dev.panpipe.process;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.internal.Closer;
import dev.panpipe.internal.linux.LinuxSpawner;
import dev.panpipe.internal.linux.ProcessGroups;
import dev.panpipe.internal.linux.Uninterruptibly;
import dev.panpipe.io.Pipe;
import dev.panpipe.io.ReadEnd;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code cat file.txt | grep Yost | wc -l} as processes connected fd-to-fd by the kernel: each stage's
 * stdout is the write end of a pipe whose read end is the next stage's stdin, and the parent closes its
 * copies at once, so end of stream flows down the line as in a shell and no byte passes through the JVM.
 *
 * {@snippet :
 * Pipeline.Result r = Pipeline.parse("cat file.txt", "grep Yost", "wc -l").run();
 * int status = r.exitCode();          // as bash's $? for the same pipeline
 * }
 *
 * <p>The last stage's output goes to the parent's stdout, a file, or a pipe the caller reads while the
 * pipeline runs ({@link #pipeOutput()}). {@link Running#processes()} and {@link Result#statuses()} give each
 * stage's process and status (bash's {@code PIPESTATUS}); {@link #pipefail(boolean)} picks bash's rule for the
 * pipeline's own status. Every file and program is checked before the first stage starts, so a missing one
 * starts nothing; a stage that still fails to start is reported with its position and command, and the
 * stages already started are ended.
 */
public final class Pipeline {
    private final List<List<String>> stages;
    private Redirect input = Redirect.inherit();
    private Redirect output = Redirect.inherit();
    private Redirect stderr = Redirect.inherit();
    private boolean pipefail;
    private boolean newProcessGroup;
    private boolean foreground;
    private int pipeCapacity;

    private Pipeline(List<List<String>> stages) {
        if (stages.isEmpty()) throw new IllegalArgumentException("a pipeline needs at least one stage");
        for (int i = 0; i < stages.size(); i++) {
            if (stages.get(i).isEmpty()) throw new IllegalArgumentException("stage " + (i + 1) + " is empty");
        }
        this.stages = List.copyOf(stages.stream().map(List::copyOf).toList());
    }

    /** A pipeline of stages given as argv lists. */
    public static Pipeline of(List<List<String>> stages) {
        return new Pipeline(stages);
    }

    /** A pipeline of stages given as command lines, each split into words by {@link ShellWords}. */
    public static Pipeline parse(String... stageLines) {
        List<List<String>> stages = new ArrayList<>();
        for (int i = 0; i < stageLines.length; i++) {
            try {
                stages.add(ShellWords.split(stageLines[i]));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("stage " + (i + 1) + ": " + e.getMessage(), e);
            }
        }
        return new Pipeline(stages);
    }

    /** The first stage reads {@code file} ({@code < file}). */
    public Pipeline input(Path file) {
        return input(Redirect.from(file));
    }

    /**
     * Where the first stage's stdin comes from (default: inherited).
     *
     * @throws IllegalArgumentException for {@link Redirect#toStdout()}, which only stderr can take
     */
    public Pipeline input(Redirect redirect) {
        this.input = SubprocessBuilder.notToStdout(redirect);
        return this;
    }

    /** The last stage writes {@code file}, truncating it ({@code > file}) or appending ({@code >> file}). */
    public Pipeline output(Path file, boolean append) {
        return output(append ? Redirect.appendTo(file) : Redirect.to(file));
    }

    /**
     * Where the last stage's stdout goes (default: inherited).
     *
     * @throws IllegalArgumentException for {@link Redirect#toStdout()}, which only stderr can take
     */
    public Pipeline output(Redirect redirect) {
        this.output = SubprocessBuilder.notToStdout(redirect);
        return this;
    }

    /** The last stage's stdout becomes {@link Running#stdout()}, readable while the pipeline runs. */
    public Pipeline pipeOutput() {
        return output(Redirect.pipe());
    }

    /** Where every stage's stderr goes (default: inherited). */
    public Pipeline stderr(Redirect redirect) {
        this.stderr = Objects.requireNonNull(redirect);
        return this;
    }

    /** bash's {@code set -o pipefail}: the status is the rightmost non-zero one, not just the last stage's. */
    public Pipeline pipefail(boolean pipefail) {
        this.pipefail = pipefail;
        return this;
    }

    /**
     * Puts the stages in a process group of their own, as a shell with job control puts a job: the first stage
     * leads it and the others join it ({@link SubprocessBuilder#processGroup(long)}). Then {@link Running#close()}
     * and {@link Running#signal(int)} signal the whole group rather than each stage, so what a stage started gets
     * SIGTERM and SIGKILL too: the {@code sleep} of {@code sh -c 'sleep 100 & wait'}, or one a stage left running
     * when it ended. Each process gets each signal once, and the grace period between SIGTERM and SIGKILL is the
     * whole group's: close waits, up to that grace period, until nothing in the group runs, so what a stage
     * started can clean up as the stages can. Default {@code false}: the stages stay in this process's group, a
     * terminal's Ctrl-C reaches them as it reaches this process, and close signals each stage only, so what a
     * stage started in the background outlives the pipeline.
     *
     * <p>The group's number is the first stage's pid, so it is the group's only while that stage is not reaped:
     * {@link Running#close()} reaps it only after the group's last signal, and {@link Running#waitFor()} reaps it
     * last, once every stage has ended. Once it has been reaped (after {@code waitFor}, and so in {@link #run()},
     * or by the first stage's own {@link Subprocess#waitFor()}), the number may be another process's and the group
     * is no longer signalled or looked at: what the stages left running in it then is left alone, as a shell
     * leaves a finished job's background processes. A stage that moved to a group of its own ({@code setsid}) is
     * signalled directly; what such a process starts is reached by no signal.
     *
     * <p>A group of its own is not a terminal's foreground group: a stage that reads the terminal is stopped
     * (SIGTTIN), and so is one that writes it while {@code stty tostop} is set (SIGTTOU), unless the group is made
     * the foreground one with {@link #foreground(boolean)}.
     */
    public Pipeline newProcessGroup(boolean newProcessGroup) {
        this.newProcessGroup = newProcessGroup;
        return this;
    }

    /**
     * With {@link #newProcessGroup(boolean)}, makes the stages' group the foreground process group of this
     * process's terminal while the pipeline runs, as a shell with job control does for a foreground job: the
     * stages may then read the terminal (a first stage reading it was stopped by SIGTTIN), and the terminal's
     * Ctrl-C, Ctrl-\ and Ctrl-Z go to them and no longer to this process. Done only when stdin is this process's
     * controlling terminal and this process's group is its foreground group ({@code tcgetpgrp(0) == getpgrp()});
     * otherwise, as with no terminal or when running in the background, nothing changes. {@link #start()} does it
     * right after the last stage has started and then sends the group SIGCONT, as a shell's {@code fg} does: a stage
     * that touched the terminal before its group was the foreground one was stopped, and goes on now. The
     * foreground goes back to this process's group once the pipeline has ended: when {@link Running#waitFor()}
     * has seen every stage end, or in {@link Running#close()}, whichever comes first, also after a failure.
     * While the stages have it, this process is in the background: with {@code tostop} set, its own writes to the
     * terminal stop it (SIGTTOU), as they would a background job's. The terminal's Ctrl-Z stops the stages, not
     * this process, so {@link Running#waitFor()} does what a shell does when its foreground job stops: it looks
     * every 100 ms whether the stages have stopped (none runs, one or more stopped: {@code waitid} with
     * {@code WSTOPPED | WNOWAIT}, which reaps nothing), and if so gives the terminal back to this process's group
     * and stops this process's group with SIGTSTP, for the shell that runs it to see, as the Ctrl-Z would have before;
     * continued ({@code fg}), it gives the stages' group the terminal again if this process has it, and sends
     * the group SIGCONT. With no job control above (this process's group orphaned) the kernel discards that
     * stop, and the stages go on at once, as a Ctrl-Z does nothing to such a group. This lives here, not with the
     * caller, because only the code that gave the stages the terminal knows to take it back, and a library user at
     * a terminal has its shell waiting just the same. A process that ignores or handles SIGTSTP is not stopped,
     * and the stages go on at once; only {@code waitFor} watches, so a caller waiting otherwise (polling
     * {@link Subprocess#waitFor(Duration)}, say) sees the stages stay stopped. The other processes in this process's
     * group, the rest of its shell's job, are sent SIGTSTP too, so that the shell sees the whole job stopped (see
     * {@code ProcessGroups.stopThisProcess}). Default {@code false}.
     *
     * @throws IllegalStateException from {@link #start()} if set without {@link #newProcessGroup(boolean)}: the stages
     *         would be in this process's own group, which has the terminal already
     */
    public Pipeline foreground(boolean foreground) {
        this.foreground = foreground;
        return this;
    }

    /**
     * The kernel buffer asked for each pipe between two stages, best effort ({@code F_SETPIPE_SZ}, as
     * {@link Pipe#capacity(int)}). Default 0: the kernel's 64 KiB, as a shell's pipes have, so that where a stage
     * is cut off (a {@code head} that exits) is where it would be under bash. A stream between stages hands off
     * from writer to reader once per buffer: {@code cat 300MB | cat} took 170-190 ms at 64 KiB and 140-155 ms at
     * 1 MiB here. A bigger buffer counts towards {@code /proc/sys/fs/pipe-user-pages-soft}, past which every new
     * pipe of an unprivileged user gets 8 KiB (see {@link SubprocessBuilder#pipeCapacity}).
     */
    public Pipeline pipeCapacity(int bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative pipe capacity: " + bytes);
        this.pipeCapacity = bytes;
        return this;
    }

    public List<List<String>> stages() {
        return stages;
    }

    /**
     * Starts every stage, first to last, after checking that all of them can start: the redirections'
     * files are opened first (stdin's, then stdout's, then stderr's, once for all stages, as bash opens
     * {@code { a | b; } < in > out 2> err}), then every stage's program is looked up, and only then is the
     * first process started. A missing file or program therefore starts nothing.
     *
     * @throws ProgramNotFoundException if a stage's program does not exist or may not be executed; nothing
     *         was started ({@link SpawnException#shellCode()} is bash's 127 or 126 for it)
     * @throws IOException if a redirection's file cannot be opened (nothing was started), or a stage fails to
     *         start for another reason; either way the message names the stage's number and command, and
     *         every stage already started has been ended (together: SIGTERM, half a second, SIGKILL) and reaped,
     *         and every pipe closed, before this returns.
     *         A failed system call stays a {@link SyscallException} with its call and errno: running out of fds
     *         in a stage's spawn, or in the pipe to the next stage ("pipeline stage 2 (cat): cannot open the
     *         pipe to stage 3: pipe2: EMFILE (Too many open files)")
     */
    public Running start() throws IOException {
        if (foreground && !newProcessGroup) throw new IllegalStateException("foreground(true) needs newProcessGroup(true)");
        Redirect in = LinuxSpawner.openFileNow(input);
        Redirect out = null, err = null;
        try {
            out = LinuxSpawner.openFileNow(output);
            err = LinuxSpawner.openFileNow(stderr);
            List<SubprocessBuilder> builders = new ArrayList<>(stages.size());
            for (int i = 0; i < stages.size(); i++) {
                SubprocessBuilder b = Subprocess.builder(stages.get(i)).stderr(err);
                try {
                    b.resolveProgram();
                } catch (SpawnException e) {
                    throw inStage(e, i);
                }
                builders.add(b);
            }
            return startAll(builders, in, out);
        } finally {
            LinuxSpawner.closeOpenedFile(input, in);
            if (out != null) LinuxSpawner.closeOpenedFile(output, out);
            if (err != null) LinuxSpawner.closeOpenedFile(stderr, err);
        }
    }

    private Running startAll(List<SubprocessBuilder> builders, Redirect in, Redirect out) throws IOException {
        List<Subprocess> started = new ArrayList<>(builders.size());
        ReadEnd previous = null;      // the parent's copy of the read end the next stage takes as stdin
        try {
            for (int i = 0; i < builders.size(); i++) {
                boolean last = i == builders.size() - 1;
                Pipe link = null;
                try {
                    link = last ? null : openLink(i);
                    SubprocessBuilder b = builders.get(i)
                            .stdin(i == 0 ? in : Redirect.from(previous))
                            .stdout(last ? out : Redirect.to(link.writeEnd()));
                    // The first stage is not reaped before start returns, so its pid is still the group's number.
                    if (newProcessGroup) b.processGroup(i == 0 ? 0 : started.getFirst().pid());
                    started.add(startStage(b, i));
                } catch (IOException | RuntimeException e) {
                    if (link != null) link.readEnd().close();   // no next stage will take it
                    throw e;
                } finally {
                    // The children hold their own copies now; the parent's must go so EOF can propagate.
                    if (previous != null) previous.close();
                    previous = null;
                    if (link != null) link.writeEnd().close();
                }
                previous = link == null ? null : link.readEnd();
            }
            Running running = new Running(started, pipefail, in instanceof Redirect.Pipe, builders.getFirst().destroyGrace(), newProcessGroup);
            if (foreground) {
                // Any failure here ends the stages as a failed start does, through the catch below (started is
                // still this list), and leaves the terminal as it was.
                running.takeTerminal();
            }
            return running;
        } catch (IOException | RuntimeException e) {
            // The stages already started are ended as close ends a pipeline, all together: SIGTERM to every
            // one, one short grace period shared by all, SIGKILL, reap. (Ended one by one, each with a grace
            // period of its own, stages that ignore SIGTERM made a failed start take half a second apiece.)
            try {
                new Running(started, pipefail, false, FAILED_START_GRACE, newProcessGroup).close();
            } catch (IOException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** How long the stages of a start that failed get between SIGTERM and SIGKILL: they were never the caller's. */
    private static final Duration FAILED_START_GRACE = Duration.ofMillis(500);

    /** The pipe from stage {@code index} to the next, its failure (EMFILE, ENFILE) said of both. */
    private Pipe openLink(int index) throws IOException {
        try {
            Pipe link = Pipe.open();
            if (pipeCapacity > 0) {
                try {
                    link.capacity(pipeCapacity);
                } catch (IOException e) {
                    // EPERM (over the user's pipe budget) or EINVAL: the default size still works, only slower
                }
            }
            return link;
        } catch (IOException e) {
            String what = stageLabel(index) + ": cannot open the pipe to stage " + (index + 2);
            throw e instanceof SyscallException s ? s.withContext(what) : new IOException(what + ": " + e.getMessage(), e);
        }
    }

    private Subprocess startStage(SubprocessBuilder b, int index) throws IOException {
        try {
            return b.start();
        } catch (IOException e) {
            throw inStage(e, index);
        }
    }

    /**
     * The same failure, of the same type, its message prefixed with the stage: "pipeline stage 2 (grep 'a b'): ...".
     * A failed system call (out of fds in the spawn's own pipe2, open or pidfd_open) stays a {@link SyscallException}
     * with its call and errno, as a pipe between two stages does.
     */
    private IOException inStage(IOException e, int index) {
        String stage = stageLabel(index);
        return switch (e) {
            case ProgramNotFoundException p -> new ProgramNotFoundException(p.program(), stage + ": " + p.getMessage(), p, p.exists());
            case SpawnException s -> new SpawnException(s.program(), stage + ": " + s.getMessage(), s);
            case SyscallException s -> s.withContext(stage);
            default -> new IOException(stage + ": " + e.getMessage(), e);
        };
    }

    /** "pipeline stage 2 (grep 'a b')": the stage's number, from 1, and its command line. */
    private String stageLabel(int index) {
        return "pipeline stage " + (index + 1) + " (" + ShellWords.join(stages.get(index)) + ")";
    }

    /**
     * Starts the pipeline and waits for every stage.
     *
     * @throws IllegalStateException if a redirection is {@link Redirect#pipe()}: its other end would be
     *         unreachable, so a stage writing more than the pipe holds, or reading its stdin, would wait for
     *         ever; nothing is started ({@link #start()} gives the pipes to the caller)
     */
    public Result run() throws IOException {
        if (input instanceof Redirect.Pipe || output instanceof Redirect.Pipe || stderr instanceof Redirect.Pipe) {
            throw new IllegalStateException("run() cannot read or write a pipe of the stages: call start() and use"
                    + " the pipes of Running.processes() (Running.stdout() for pipeOutput())");
        }
        try (Running running = start()) {
            return running.waitFor();
        }
    }

    /** A started pipeline: one owner closes it, ending any stage still running. */
    public static final class Running implements AutoCloseable {
        private final List<Subprocess> processes;
        private final boolean pipefail;
        private final boolean inputPiped;
        private final Duration grace;
        /** The first stage, when it leads a process group the others joined; else null. */
        private final Subprocess groupLeader;
        /** This process's group while the stages' group has the terminal, to give it back to; else -1. */
        private final AtomicInteger terminalOwner = new AtomicInteger(-1);
        /** The stages' group was given the terminal at start: waitFor watches for their stop. */
        private volatile boolean atTerminal;
        /**
         * How often waitFor looks whether the stages have stopped: a Ctrl-Z's effect, the shell's prompt, comes
         * this much later at most, for 10 cheap waitid calls per stage a second while at a terminal.
         */
        private static final Duration STOP_CHECK = Duration.ofMillis(100);

        private Running(List<Subprocess> processes, boolean pipefail, boolean inputPiped, Duration grace, boolean grouped) {
            this.processes = List.copyOf(processes);
            this.pipefail = pipefail;
            this.inputPiped = inputPiped;
            this.grace = grace;
            this.groupLeader = grouped && !processes.isEmpty() ? processes.getFirst() : null;
        }

        public List<Subprocess> processes() {
            return processes;
        }

        /** The last stage's stdout, when the pipeline was built with {@link #pipeOutput()}. */
        public ReadEnd stdout() {
            return processes.getLast().stdout();
        }

        /**
         * Waits for every stage, last to first. The first stage is reaped last because it leads the process group
         * with {@link Pipeline#newProcessGroup(boolean)}, and the group may be signalled ({@link #signal(int)}, from
         * another thread) only while its leader is unreaped: so it can be until every stage has ended, also when the
         * first stage ended long before the others and left something running in the group.
         */
        public Result waitFor() throws IOException {
            ExitStatus[] statuses = new ExitStatus[processes.size()];
            for (int i = processes.size() - 1; i >= 0; i--) statuses[i] = await(processes.get(i));
            giveTerminalBack();
            return new Result(List.of(statuses), pipefail);
        }

        /**
         * One stage's end; at a terminal (see {@link Pipeline#foreground(boolean)}) looked for in slices, and
         * between them whether the stages have stopped, as a shell's job control does for its foreground job.
         * The stages' stop is never reported to this process otherwise (no SIGCHLD handler, and the reaper
         * waits for WEXITED only), and a blocking wait would wait for ever on a stopped stage.
         */
        private ExitStatus await(Subprocess stage) throws IOException {
            if (!atTerminal) return stage.waitFor();
            for (;;) {
                Optional<ExitStatus> s = stage.waitFor(STOP_CHECK);
                if (s.isPresent()) return s.get();
                if (ProcessGroups.stopped(processes)) followStop();
            }
        }

        /**
         * The stages stopped (the terminal's Ctrl-Z went to their group): as a shell whose foreground job stops,
         * this process's group gets the terminal back; then, for the shell that runs this process, it stops as
         * the Ctrl-Z would have stopped it ({@link ProcessGroups#stopThisProcess}); once continued, the stages'
         * group gets the terminal again if this process is in the foreground (a shell's {@code fg}, not
         * {@code bg}), and SIGCONT. Where the stop is discarded (nothing could continue this process: no job
         * control) the stages go on at once, as a Ctrl-Z at the terminal would then have changed nothing.
         */
        private void followStop() throws IOException {
            giveTerminalBack();
            ProcessGroups.stopThisProcess();
            int own = ProcessGroups.takeTerminal(groupLeader);
            if (own != -1) terminalOwner.set(own);
            signal(Signals.SIGCONT);
        }

        /** See {@link Pipeline#foreground(boolean)}: the group gets the terminal, then SIGCONT. */
        private void takeTerminal() throws IOException {
            int own = ProcessGroups.takeTerminal(groupLeader);
            if (own == -1) return;
            terminalOwner.set(own);
            atTerminal = true;
            // A stage that read or wrote the terminal before this was stopped by SIGTTIN or SIGTTOU; its call is
            // made again once it goes on, and the terminal is its group's now. As a shell's fg, which continues a
            // job after giving it the terminal; a stage that was not stopped ignores SIGCONT unless it handles it.
            try {
                signal(Signals.SIGCONT);
            } catch (IOException | RuntimeException e) {
                // The failed start's close is another Running's, which does not know the terminal was taken.
                try {
                    giveTerminalBack();
                } catch (IOException | RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
        }

        /** Gives the terminal back to this process's group, once, if the stages' group has it. */
        private void giveTerminalBack() throws IOException {
            int own = terminalOwner.getAndSet(-1);
            if (own != -1) ProcessGroups.giveTerminalBack(own);
        }

        /**
         * Sends {@code signal} once to every stage still running. With {@link Pipeline#newProcessGroup(boolean)}
         * it goes to the process group, as long as its leader, the first stage, is not reaped, so it reaches
         * what the stages started too, and to a stage directly only if that stage has left the group; otherwise,
         * or once the leader has been reaped, to each stage. For passing on a signal this process got, as a shell
         * passes a terminal's Ctrl-C to its foreground job. Every stage is signalled, whatever signalling another
         * threw.
         *
         * @throws IOException the first failure (a {@link SyscallException} naming kill or pidfd_send_signal),
         *         the others suppressed in it
         */
        public void signal(int signal) throws IOException {
            Throwable[] failed = new Throwable[processes.size()];
            Throwable[] groupFailed = new Throwable[1];
            signalAll(failed, groupFailed, signal);
            Closer closer = new Closer();
            for (Throwable t : failed) if (t != null) closer.add(t);
            if (groupFailed[0] != null) closer.add(groupFailed[0]);
            closer.throwFailure();
        }

        /**
         * Ends the pipeline as {@link Subprocess#close()} ends one process. With a piped input
         * ({@code input(Redirect.pipe())}) the first stage's stdin is closed, and the stages get one grace period
         * (the stages' destroy grace, 2 s), counted from then, to finish by themselves, as end of input travels
         * down the line stage by stage and each writes what it has left: a pipeline closed right after its input
         * was written still writes its whole output. (Stages used to be closed one by one, each as a process on
         * its own, and a later stage got SIGTERM as soon as its turn came, while it was still writing.) The
         * stages still running then get SIGTERM, all at once, one more grace period, then SIGKILL; then each is
         * reaped and its pipes are closed. So a stuck pipeline ends within two grace periods, however many stages
         * it has. Every stage is closed, whatever closing another threw. An interrupt of the calling thread
         * shortens none of this and stays set.
         *
         * <p>With {@link Pipeline#newProcessGroup(boolean)}, SIGTERM and SIGKILL are sent as {@link #signal(int)}
         * sends them: to the process group, as long as the first stage, its leader, has not been reaped (close
         * reaps it last), whether or not a stage is still running, and directly only to a stage that has left the
         * group. Everything the stages started in the group ends with them, and each process gets each signal once
         * (a stage used to get SIGTERM twice, directly and through the group). The grace period after SIGTERM is
         * the whole group's: SIGKILL comes once nothing in the group runs any more or the grace period has passed,
         * so what a stage started gets the same time to clean up as the stages (it used to be killed as soon as
         * the stages had ended).
         */
        @Override
        public void close() throws IOException {
            // A stage's first failure in the steps before its own close (a wait, a signal) ends those steps for
            // it; its close then runs anyway, and what the close throws is reported for the stage, else that
            // earlier failure: one failure per stage, the first stage's thrown, the others suppressed in it.
            Throwable[] failed = new Throwable[processes.size()];
            if (inputPiped) {
                step(failed, 0, p -> p.stdin().close());
                awaitAll(failed, System.nanoTime() + grace.toNanos());
            }
            Throwable[] groupFailed = new Throwable[1];
            signalAll(failed, groupFailed, Signals.SIGTERM);
            signalAll(failed, groupFailed, Signals.SIGCONT);    // a stopped stage handles its SIGTERM now, not never
            long deadline = System.nanoTime() + grace.toNanos();
            awaitAll(failed, deadline);
            awaitGroup(groupFailed, deadline);
            signalAll(failed, groupFailed, Signals.SIGKILL);
            Throwable terminalFailed = null;
            try {
                // However the stages ended, this process's group is the foreground one again.
                giveTerminalBack();
            } catch (IOException | RuntimeException | Error e) {
                terminalFailed = e;
            }
            Closer closer = new Closer();
            for (int i = 0; i < processes.size(); i++) {
                Throwable closing = null;
                try {
                    processes.get(i).close();
                } catch (IOException | RuntimeException | Error e) {
                    closing = e;
                }
                if (closing != null || failed[i] != null) closer.add(closing != null ? closing : failed[i]);
            }
            if (groupFailed[0] != null) closer.add(groupFailed[0]);
            if (terminalFailed != null) closer.add(terminalFailed);
            closer.throwFailure();
        }

        /**
         * {@code signal} once to each stage still running: through the group where it can be (see
         * {@link #signalGroup}), directly to a stage the group signal did not reach. A stage is in the group
         * unless it left it ({@code setsid}), so a group signal and a direct one would make two: a program that
         * counts its SIGTERMs, or takes a second one as "now, not gracefully", would see both.
         */
        private void signalAll(Throwable[] failed, Throwable[] groupFailed, int signal) {
            boolean viaGroup = signalGroup(groupFailed, signal);
            forEachRunning(failed, p -> {
                if (!viaGroup || !ProcessGroups.isMember(p, groupLeader)) p.signal(signal);
            });
        }

        /**
         * Sends {@code signal} to the process group, unless there is none or its leader has been reaped; keeps the
         * first failure apart from the stages', so that it spares no stage its own signals.
         *
         * @return true if the group was signalled (or had no member this process may signal left)
         */
        private boolean signalGroup(Throwable[] groupFailed, int signal) {
            if (groupLeader == null || groupFailed[0] != null) return false;
            try {
                return ProcessGroups.signalUnlessReaped(groupLeader, signal);
            } catch (IOException | RuntimeException | Error e) {
                groupFailed[0] = e;
                return false;
            }
        }

        /** With a group, waits until nothing in it runs, or {@code deadline}; see {@link ProcessGroups#awaitGroupEnded}. */
        private void awaitGroup(Throwable[] groupFailed, long deadline) {
            if (groupLeader == null || groupFailed[0] != null) return;
            try {
                ProcessGroups.awaitGroupEnded(groupLeader, deadline);
            } catch (IOException | RuntimeException | Error e) {
                groupFailed[0] = e;
            }
        }

        /** Waits for each stage, first to last, until {@code deadline} (System.nanoTime) at most. */
        private void awaitAll(Throwable[] failed, long deadline) {
            for (int i = 0; i < processes.size(); i++) {
                step(failed, i, p -> {
                    long left = deadline - System.nanoTime();
                    // Not p.waitFor: an interrupt would end the wait and fail the stage's close steps.
                    if (p == groupLeader) ProcessGroups.awaitExitUnreaped(p, TimeUnit.NANOSECONDS.toMillis(left));   // see hasEnded
                    else if (left > 0) Uninterruptibly.waitFor(p, Duration.ofNanos(left)); else p.exitStatus();
                });
            }
        }

        private void forEachRunning(Throwable[] failed, StageStep action) {
            for (int i = 0; i < processes.size(); i++) {
                step(failed, i, p -> {
                    if (!hasEnded(p)) action.run(p);
                });
            }
        }

        /** A stage has ended; it is reaped, unless it leads the group, whose number must stay its own until the last signal. */
        private boolean hasEnded(Subprocess p) throws IOException {
            return p == groupLeader ? ProcessGroups.hasExited(p) : p.exitStatus().isPresent();
        }

        /** Runs {@code action} on stage {@code i} unless a step failed for it before; keeps what it throws. */
        private void step(Throwable[] failed, int i, StageStep action) {
            if (failed[i] != null) return;
            try {
                action.run(processes.get(i));
            } catch (IOException | RuntimeException | Error e) {
                failed[i] = e;
            }
        }

        @FunctionalInterface
        private interface StageStep {
            void run(Subprocess p) throws IOException;
        }
    }

    /** How each stage ended, first to last, and the pipeline's status as bash computes it. */
    public record Result(List<ExitStatus> statuses, boolean pipefail) {
        public Result {
            statuses = List.copyOf(statuses);
        }

        /** Each stage's status as bash's {@code PIPESTATUS} array holds it: the exit code, or 128 + the signal. */
        public List<Integer> shellCodes() {
            return statuses.stream().map(ExitStatus::shellCode).toList();
        }

        /** bash's {@code $?}: the last stage's status, or with pipefail the rightmost non-zero one (0 if none). */
        public int exitCode() {
            return decidingStatus().shellCode();
        }

        /**
         * The stage status {@link #exitCode()} is taken from: the last stage's, or with pipefail the rightmost
         * unsuccessful one (the last stage's if every stage succeeded). Whether it was a signal tells a shell's
         * "the pipeline died of SIGINT" from "a stage exited 130".
         */
        public ExitStatus decidingStatus() {
            if (pipefail) {
                for (ExitStatus s : statuses.reversed()) {
                    if (s.shellCode() != 0) return s;
                }
            }
            return statuses.getLast();
        }
    }
}
