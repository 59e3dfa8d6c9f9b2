package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.posix_spawn_file_actions_t;
import dev.panpipe.bindings.linux.posix_spawnattr_t;
import dev.panpipe.bindings.linux.sigset_t;
import dev.panpipe.bindings.linux.stat;
import dev.panpipe.process.ProgramNotFoundException;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.SpawnException;
import dev.panpipe.process.Subprocess;
import dev.panpipe.process.SubprocessBuilder;

import java.io.File;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Starts processes with {@code posix_spawn}: glibc runs it with {@code clone(CLONE_VM|CLONE_VFORK)}, which
 * is safe in a multi-threaded JVM, where {@code fork()} is not.
 *
 * <h2>Which fds the child gets</h2>
 * Exactly the ones named: 0, 1, 2 and any {@link SubprocessBuilder#passFd extra fd}. Each is put in
 * place with {@code adddup2}, every unnamed fd between 3 and the highest one named is closed with
 * {@code addclose}, and {@code addclosefrom_np} closes every fd above it, so even an fd the JVM opened
 * without close-on-exec never leaks into the child. A source fd
 * that could be overwritten by an earlier dup2 (one numbered at or below the highest target) is first
 * copied above all targets.
 */
public final class LinuxSpawner {
    private static final String DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";

    private LinuxSpawner() {
    }

    public static Subprocess spawn(SubprocessBuilder b) throws IOException {
        return spawn(b, true);
    }

    /** {@code usePidfd} false: a child without a pidfd, as on a kernel before 5.3, for tests of that path. */
    static Subprocess spawn(SubprocessBuilder b, boolean usePidfd) throws IOException {
        String program = b.command().get(0);
        Path executable = resolve(program, b);
        List<Integer> parentFdsToClose = new ArrayList<>();   // child-side fds panpipe opened: closed after spawn
        List<FdHandle> sharedEnds = new ArrayList<>();         // caller's ends lent to the child: released after spawn
        FdHandle stdinEnd = null, stdoutEnd = null, stderrEnd = null;
        boolean started = false;
        try (Arena arena = Arena.ofConfined()) {
            // target fd in the child -> source fd in the parent; -1: inherit (no action)
            TreeMap<Integer, Integer> map = new TreeMap<>();
            int[] pipe;
            pipe = childSide(b.stdinRedirect(), 0, map, parentFdsToClose, sharedEnds, arena, b.pipeCapacity());
            if (pipe != null) {
                stdinEnd = FdHandle.own(pipe[1], "stdin of " + program);
                stdinEnd.holdPipeBudget(pipe[2]);
            }
            pipe = childSide(b.stdoutRedirect(), 1, map, parentFdsToClose, sharedEnds, arena, b.pipeCapacity());
            if (pipe != null) {
                stdoutEnd = FdHandle.own(pipe[0], "stdout of " + program);
                stdoutEnd.holdPipeBudget(pipe[2]);
            }
            boolean stderrToStdout = b.stderrRedirect() instanceof Redirect.ToStdout;
            if (!stderrToStdout) {
                pipe = childSide(b.stderrRedirect(), 2, map, parentFdsToClose, sharedEnds, arena, b.pipeCapacity());
                if (pipe != null) stderrEnd = FdHandle.own(pipe[0], "stderr of " + program);
            }
            for (Map.Entry<Integer, Redirect> e : b.extraFds().entrySet()) {
                childSide(e.getValue(), e.getKey(), map, parentFdsToClose, sharedEnds, arena, b.pipeCapacity());
            }
            int highestTarget = Math.max(2, map.isEmpty() ? 2 : map.lastKey());

            MemorySegment actions = posix_spawn_file_actions_t.allocate(arena);
            MemorySegment attr = posix_spawnattr_t.allocate(arena);
            Syscalls.checkReturned("posix_spawn_file_actions_init", null, linux_h.posix_spawn_file_actions_init(actions));
            Syscalls.checkReturned("posix_spawnattr_init", null, linux_h.posix_spawnattr_init(attr));
            try {
                for (Map.Entry<Integer, Integer> e : map.entrySet()) {
                    int target = e.getKey(), source = e.getValue();
                    if (source < 0) continue;
                    if (source <= highestTarget) {
                        // An earlier dup2 could overwrite this source: move it out of the way first.
                        try {
                            source = Syscalls.fcntl(source, linux_h.F_DUPFD_CLOEXEC(), highestTarget + 1);
                        } catch (SyscallException x) {
                            // EINVAL: the highest child fd is at or above this process's fd limit (RLIMIT_NOFILE)
                            throw x.withContext("moving fd " + source + " above the highest child fd " + highestTarget);
                        }
                        parentFdsToClose.add(source);
                    }
                    Syscalls.checkReturned("posix_spawn_file_actions_adddup2", null,
                            linux_h.posix_spawn_file_actions_adddup2(actions, source, target));
                }
                if (stderrToStdout) {
                    Syscalls.checkReturned("posix_spawn_file_actions_adddup2", null,
                            linux_h.posix_spawn_file_actions_adddup2(actions, 1, 2));
                }
                // closefrom only reaches above the highest target: the parent's fds in the gaps below it
                // (3..highestTarget, not named) must be closed one by one, or any of them opened without
                // close-on-exec (the JVM's own jar and modules fds are) would leak into the child.
                for (int fd = 3; fd < highestTarget; fd++) {
                    if (map.containsKey(fd)) continue;
                    Syscalls.checkReturned("posix_spawn_file_actions_addclose", null,
                            linux_h.posix_spawn_file_actions_addclose(actions, fd));
                }
                Syscalls.checkReturned("posix_spawn_file_actions_addclosefrom_np", null,
                        linux_h.posix_spawn_file_actions_addclosefrom_np(actions, highestTarget + 1));
                if (b.directory() != null) {
                    Path dir = b.directory().toAbsolutePath();
                    if (!Files.isDirectory(dir)) throw new SpawnException(program, "cannot start " + program + ": working directory " + dir + " is not a directory", null);
                    Syscalls.checkReturned("posix_spawn_file_actions_addchdir_np", dir.toString(),
                            linux_h.posix_spawn_file_actions_addchdir_np(actions, arena.allocateFrom(dir.toString())));
                }
                int group = (int) b.processGroup().orElse(-1);
                setAttributes(attr, group, arena);

                MemorySegment pidOut = arena.allocate(linux_h.C_INT);
                MemorySegment argv = cStringArray(b.command(), arena);
                MemorySegment envp = b.environmentOrNull() == null ? Syscalls.environ() : environment(b.environmentOrNull(), arena);
                int error = linux_h.posix_spawn(pidOut, arena.allocateFrom(executable.toString()), actions, attr, argv, envp);
                // The child has its copies now, or there is no child: the parent's go before pidfd_open needs
                // one more fd, so a start never holds more fds at once than it must (one fewer per redirect).
                releaseChildSides(parentFdsToClose, sharedEnds);
                // Joining a group, EPERM may be setpgid's or a later step's: SpawnDiagnosis looks which it can be.
                // A new group (0) cannot fail so: setpgid(0, 0) refuses only a session leader, which a child
                // just forked is not, so there an EPERM is another step's and is told as for any program.
                if (group > 0 && error == Errno.EPERM) throw SpawnDiagnosis.ofGroupJoin(program, executable, group, error);
                if (error != 0) {
                    SpawnException directoryRefused = b.directory() == null ? null
                            : SpawnDiagnosis.ofDirectory(program, b.directory().toAbsolutePath(), error);
                    if (directoryRefused != null) throw directoryRefused;
                    Path childDirectory = b.directory() != null ? b.directory().toAbsolutePath() : Path.of("").toAbsolutePath();
                    throw SpawnDiagnosis.of(program, executable, childDirectory, error);
                }
                int pid = pidOut.get(linux_h.C_INT, 0);
                LinuxSubprocess process = LinuxSubprocess.started(pid, b.command(), stdinEnd, stdoutEnd, stderrEnd, b.destroyGrace(), usePidfd);
                started = true;
                return process;
            } finally {
                linux_h.posix_spawn_file_actions_destroy(actions);
                linux_h.posix_spawnattr_destroy(attr);
            }
        } finally {
            releaseChildSides(parentFdsToClose, sharedEnds);
            if (!started) {
                if (stdinEnd != null) stdinEnd.close();
                if (stdoutEnd != null) stdoutEnd.close();
                if (stderrEnd != null) stderrEnd.close();
            }
        }
    }

    /** Closes the child-side fds the parent opened and gives back the ends it lent; once, however often called. */
    private static void releaseChildSides(List<Integer> toClose, List<FdHandle> sharedEnds) {
        for (int fd : toClose) closeQuietly(fd);
        toClose.clear();
        for (FdHandle h : sharedEnds) h.release();
        sharedEnds.clear();
    }

    /**
     * Resolves what the child's fd {@code target} comes from into {@code map}. Returns the new pipe's two fds
     * for {@link Redirect#pipe()} (the child's end is already scheduled for closing in the parent), and third
     * the {@link PipeBudget} pages its enlargement took (the parent's end gives them back), else null.
     */
    private static int[] childSide(Redirect r, int target, Map<Integer, Integer> map, List<Integer> toClose,
                                   List<FdHandle> sharedEnds, Arena arena, int pipeCapacity) throws IOException {
        switch (r) {
            case Redirect.Pipe p -> {
                int[] fds = LinuxPipe.openFds();
                int budgetPages = target <= 1 && pipeCapacity > 0 ? (int) PipeBudget.enlarge(fds[0], pipeCapacity) : 0;
                int childEnd = target == 0 ? fds[0] : fds[1];
                toClose.add(childEnd);
                map.put(target, childEnd);
                return new int[] {fds[0], fds[1], budgetPages};
            }
            case Redirect.Inherit i -> map.put(target, target < 3 ? -1 : target);
            case Redirect.DevNull d -> {
                int fd = Syscalls.open(arena.allocateFrom("/dev/null"), linux_h.O_RDWR() | linux_h.O_CLOEXEC(), 0);
                toClose.add(fd);
                map.put(target, fd);
            }
            case Redirect.FromFile f -> {
                int fd = openFileFd(f.file(), false, false, arena);
                toClose.add(fd);
                map.put(target, fd);
            }
            case Redirect.ToFile f -> {
                int fd = openFileFd(f.file(), true, f.append(), arena);
                toClose.add(fd);
                map.put(target, fd);
            }
            case Redirect.FromEnd e -> map.put(target, lend(handleOf(e.end()), toClose, sharedEnds));
            case Redirect.ToEnd e -> map.put(target, lend(handleOf(e.end()), toClose, sharedEnds));
            case Redirect.RawFd f -> {
                // Looked at here: posix_spawn's EBADF would be said of the program, and name no fd.
                try {
                    Syscalls.fcntl(f.fd(), linux_h.F_GETFD(), 0);
                } catch (SyscallException e) {
                    throw e.withContext("fd " + f.fd() + " given for the child's fd " + target);
                }
                map.put(target, f.fd());
            }
            case Redirect.ToStdout s -> throw new IllegalArgumentException("toStdout() is for stderr only");
        }
        return null;
    }

    /**
     * {@code < file}, {@code > file} (0644 less the umask) or {@code >> file}, close-on-exec. A FIFO's open waits for
     * its peer: on a virtual thread, that wait must not pin the carrier ({@link #openOnVirtualThread}).
     *
     * @throws SyscallException naming open, the errno and the file, if it cannot be opened
     * @throws InterruptedIOException naming the file and the direction, if a virtual thread was interrupted while
     *         the open waited (its interrupt status stays set)
     */
    private static int openFileFd(Path file, boolean write, boolean append, Arena arena) throws IOException {
        int flags = write
                ? linux_h.O_WRONLY() | linux_h.O_CREAT() | linux_h.O_CLOEXEC() | (append ? linux_h.O_APPEND() : linux_h.O_TRUNC())
                : linux_h.O_RDONLY() | linux_h.O_CLOEXEC();
        int mode = write ? 0644 : 0;
        if (Thread.currentThread().isVirtual()) return openOnVirtualThread(file, flags, mode);
        return Syscalls.open(arena.allocateFrom(file.toString()), flags, mode);
    }

    /**
     * A virtual thread's redirect open. The file may be a FIFO whose open blocks until a peer, perhaps another
     * virtual thread of this JVM, opens it; made here, the open would pin the carrier all that time (with one
     * carrier: for good) and no interrupt could end it. So it is handed to a platform thread ({@link BlockingOpen}),
     * at the cost of starting one: 0.4 to 0.9 ms a hand-off on a busy two-core machine, against 4 to 6 ms to spawn
     * and reap {@code true}.
     *
     * <p>Most redirects are regular files (or /dev/null), whose open does not wait for anyone: those are opened here,
     * without a thread: about 19 µs for a file or /dev/null, against 5 µs for a plain open of the file (seven system
     * calls for one, six since the sticky-directory check reuses the lookup's fstat: the lookup, that check, the open
     * through {@code /proc} and the check that the file still has a name, at 1.3 to 8 µs each on this VM; a
     * throwaway probe, pinned, 2026-12-06), and nothing
     * beside the 4 to 6 ms of a spawn. The path is looked up without being opened ({@code O_PATH}, following links
     * as the open does; a FIFO or a device is not opened by it) and what it names is opened through
     * {@code /proc/self/fd}, so a path replaced in between (by a FIFO, say) cannot slip in.
     * A {@code > file} that does not exist yet is created with {@code O_EXCL}, which makes a regular file or finds
     * one made meanwhile (looked up again); only through a link to nothing is the file made by path, on a thread.
     */
    private static int openOnVirtualThread(Path file, int flags, int mode) throws IOException {
        return BlockingOpen.open(file, flags, mode);
    }

    /**
     * Opens a file redirect now, as a shell opens a redirection before it runs the command, and returns it
     * as the end it becomes ({@link Redirect#from(dev.panpipe.io.ReadEnd)}, {@link Redirect#to(dev.panpipe.io.WriteEnd)}),
     * so that a group of children can fail on a missing file before any of them starts. Any other redirect
     * is returned as it is. The caller closes the end once the children that take it have started.
     *
     * @throws SyscallException naming the file, if it cannot be opened
     * @throws InterruptedIOException if a virtual thread was interrupted while the open waited (for a FIFO's peer)
     */
    public static Redirect openFileNow(Redirect r) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            return switch (r) {
                case Redirect.FromFile f -> Redirect.from(new FdReadEnd(FdHandle.own(
                        openFileFd(f.file(), false, false, arena), "file " + f.file() + " (read)")));
                case Redirect.ToFile f -> Redirect.to(new FdWriteEnd(FdHandle.own(
                        openFileFd(f.file(), true, f.append(), arena), "file " + f.file() + (f.append() ? " (append)" : " (write)"))));
                default -> r;
            };
        }
    }

    /** Closes what {@link #openFileNow} opened: the end behind {@code opened} if it differs from {@code original}. */
    public static void closeOpenedFile(Redirect original, Redirect opened) {
        if (opened == original) return;
        switch (opened) {
            case Redirect.FromEnd e -> e.end().close();
            case Redirect.ToEnd e -> e.end().close();
            default -> { }
        }
    }

    private static FdHandle handleOf(Object end) {
        if (end instanceof FdReadEnd r) return r.handle();
        if (end instanceof FdWriteEnd w) return w.handle();
        throw new IllegalArgumentException("not a Linux fd end: " + end);
    }

    /**
     * The fd the child gets for a caller's end. A pipe or FIFO: a description of its own, in blocking mode, closed
     * in the parent after the spawn, so the end's own description keeps its mode. Anything else: the end's fd,
     * kept open for the spawn, its description put back in blocking mode for the child and shared from then on.
     */
    private static int lend(FdHandle h, List<Integer> toClose, List<FdHandle> sharedEnds) throws SyscallException {
        int own = h.openDescriptionForChild();
        if (own >= 0) {
            toClose.add(own);
            return own;
        }
        h.prepareForChild();
        int fd = h.acquire();
        sharedEnds.add(h);
        return fd;
    }

    /**
     * Signals whose being ignored a child keeps, as exec keeps it and as a shell's children do: {@code nohup}
     * ignores SIGHUP for a program and everything it starts, and a shell without job control starts a background
     * command with SIGINT and SIGQUIT ignored. The JVM leaves these ignored when it starts with them so (it
     * installs its shutdown handlers only on signals that were not), and code that ignores one with
     * {@code sun.misc.Signal} means it too. Every other signal goes back to its default, ignored or not: a
     * SIGPIPE the JVM's parent ignored would leave {@code yes | head -1}'s writer spinning on EPIPE.
     */
    private static final int[] KEPT_IGNORED = {linux_h.SIGHUP(), linux_h.SIGINT(), linux_h.SIGQUIT(), linux_h.SIGTERM()};

    /** @param processGroup -1: the parent's; 0: a new group led by the child; else the group to join */
    private static void setAttributes(MemorySegment attr, int processGroup, Arena arena) throws SyscallException {
        // The child starts from a clean slate: nothing blocked (the calling JVM thread may block signals)
        // and every handler back to default (an ignored signal would otherwise stay ignored across exec),
        // but for those of KEPT_IGNORED that this process ignores now.
        MemorySegment empty = sigset_t.allocate(arena);
        linux_h.sigemptyset(empty);
        // Not sigfillset: glibc leaves its internal signals (32 and 33, SIGCANCEL and SIGSETXID) out of it,
        // and posix_spawn then sets those to SIG_IGN in the child, where they stay ignored across exec.
        // Every bit set makes posix_spawn put every signal back to SIG_DFL, as fork + exec would.
        MemorySegment all = sigset_t.allocate(arena);
        all.fill((byte) 0xff);
        linux_h.sigdelset(all, linux_h.SIGKILL());
        linux_h.sigdelset(all, linux_h.SIGSTOP());
        for (int sig : KEPT_IGNORED) {
            if (Syscalls.isIgnored(sig)) linux_h.sigdelset(all, sig);
        }
        Syscalls.checkReturned("posix_spawnattr_setsigmask", null, linux_h.posix_spawnattr_setsigmask(attr, empty));
        Syscalls.checkReturned("posix_spawnattr_setsigdefault", null, linux_h.posix_spawnattr_setsigdefault(attr, all));
        int flags = linux_h.POSIX_SPAWN_SETSIGMASK() | linux_h.POSIX_SPAWN_SETSIGDEF();
        if (processGroup >= 0) {
            Syscalls.checkReturned("posix_spawnattr_setpgroup", null, linux_h.posix_spawnattr_setpgroup(attr, processGroup));
            flags |= linux_h.POSIX_SPAWN_SETPGROUP();
        }
        Syscalls.checkReturned("posix_spawnattr_setflags", null, linux_h.posix_spawnattr_setflags(attr, (short) flags));
    }

    /**
     * Finds the program the way execvp would, but in the parent, so a missing program is an exception that
     * names it and the PATH searched, before any process exists. A name with a slash is taken as a path.
     */
    public static Path resolve(String program, SubprocessBuilder b) throws SpawnException {
        if (program.isEmpty()) throw new ProgramNotFoundException(program, "cannot start '': empty program name", null);
        // As execve after the child's chdir would see it: a relative path, or a relative PATH entry, is relative
        // to the child's directory.
        Path base = b.directory() != null ? b.directory().toAbsolutePath() : Path.of("").toAbsolutePath();
        if (program.indexOf('/') >= 0) {
            Path p = base.resolve(program).normalize();
            requireExecutable(program, p);
            return p;
        }
        Map<String, String> env = b.environmentOrNull();
        String path = env != null && env.containsKey("PATH") ? env.get("PATH") : System.getenv("PATH");
        if (path == null) path = DEFAULT_PATH;
        Path notExecutable = null;
        for (String dir : path.split(File.pathSeparator, -1)) {
            Path candidate = base.resolve(dir).resolve(program);
            if (Files.isRegularFile(candidate)) {
                if (Files.isExecutable(candidate)) return candidate;
                if (notExecutable == null) notExecutable = candidate;
            }
        }
        if (notExecutable != null) {
            // bash runs it anyway as a last resort, and execve fails with EACCES: 126.
            throw new ProgramNotFoundException(program, "cannot start " + program + ": " + notExecutable + " is not executable (EACCES)", null, true);
        }
        throw new ProgramNotFoundException(program, "cannot start " + program + ": program not found (PATH=" + path + ")"
                + shellSyntaxHint(program), null);
    }

    /** An assignment by a shell's syntax ({@code LC_ALL=C sort}), which is not a program: say so. */
    private static final Pattern ASSIGNMENT = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*=.*");

    /**
     * For a program name that is a shell's syntax, not a program: why it was not found. No shell runs the command,
     * so {@code NAME=value cmd} is not an assignment and {@code ! cmd} no negation; they are looked up as programs.
     */
    private static String shellSyntaxHint(String program) {
        if (ASSIGNMENT.matcher(program).matches()) {
            return "; no shell runs the command, so " + program + " is not an assignment: use env " + program + " COMMAND";
        }
        if (program.equals("!")) return "; no shell runs the command, so ! negates nothing: test the status instead";
        return "";
    }

    private static void requireExecutable(String program, Path p) throws SpawnException {
        // What execve would meet on the way: O_PATH touches nothing, and its errno is the one execve reports.
        try (Arena arena = Arena.ofConfined()) {
            Syscalls.close(Syscalls.open(arena.allocateFrom(p.toString()), linux_h.O_PATH() | linux_h.O_CLOEXEC(), 0));
        } catch (SyscallException e) {
            if (!isAboutThePath(e.errno())) {
                // EMFILE, ENFILE, ENOMEM: this process could not look, which says nothing about the program
                throw new SpawnException(program, "cannot start " + program + ": looking at it first failed: " + e.getMessage(), e);
            }
            if (e.errno() == Errno.ENOENT) {
                Path missing = firstMissing(p);
                throw new ProgramNotFoundException(program, "cannot start " + program + ": " + p + " does not exist"
                        + (missing.equals(p) ? "" : " (there is no directory " + missing + ")"), e);
            }
            // ENOTDIR (a path through a regular file), ELOOP, EACCES on a directory on the way: bash's
            // execve fails with something other than ENOENT there, and it says 126.
            Path notDirectory = e.errno() == Errno.ENOTDIR ? firstNotDirectory(p) : null;
            throw new ProgramNotFoundException(program, "cannot start " + program + ": " + e.getMessage()
                    + (notDirectory == null ? "" : ": " + notDirectory + " is not a directory"), e, true);
        }
        // execve's EACCES, named here before it could happen
        if (Files.isDirectory(p)) throw new ProgramNotFoundException(program, "cannot start " + program + ": " + p + " is a directory (EACCES)", null, true);
        // A FIFO, socket or device: execve refuses it with EACCES, and a look at its first bytes would open it
        // (a FIFO's open waits for a writer).
        if (!Files.isRegularFile(p)) throw new ProgramNotFoundException(program, "cannot start " + program + ": " + p + " is not a regular file (EACCES)", null, true);
        if (!Files.isExecutable(p)) throw new ProgramNotFoundException(program, "cannot start " + program + ": " + p + " is not executable (EACCES)", null, true);
    }

    /** An errno of path resolution, which execve would meet too, rather than of this process's resources. */
    private static boolean isAboutThePath(int errno) {
        return errno == Errno.ENOENT || errno == Errno.ENOTDIR || errno == Errno.ELOOP || errno == Errno.EACCES
                || errno == linux_h.ENAMETOOLONG();
    }

    /** The first name on the way to {@code p} (absolute and normalized) that is not there: a directory, or p itself. */
    private static Path firstMissing(Path p) {
        Path q = p.getRoot();
        for (Path name : p) {
            q = q.resolve(name);
            if (!Files.exists(q)) return q;
        }
        return p;
    }

    /** The first directory on the way to {@code p} that is there but is no directory, or null if none is. */
    private static Path firstNotDirectory(Path p) {
        Path q = p.getRoot();
        for (Path name : p.getParent()) {
            q = q.resolve(name);
            if (Files.exists(q) && !Files.isDirectory(q)) return q;
        }
        return null;
    }

    /** A NULL-terminated array of C strings. */
    static MemorySegment cStringArray(List<String> strings, Arena arena) {
        MemorySegment array = arena.allocate(ValueLayout.ADDRESS, strings.size() + 1L);
        for (int i = 0; i < strings.size(); i++) {
            array.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(strings.get(i)));
        }
        array.setAtIndex(ValueLayout.ADDRESS, strings.size(), MemorySegment.NULL);
        return array;
    }

    private static MemorySegment environment(Map<String, String> env, Arena arena) {
        List<String> entries = new ArrayList<>(env.size());
        for (Map.Entry<String, String> e : env.entrySet()) {
            String k = e.getKey();
            if (k == null) throw new IllegalArgumentException("an environment variable without a name (null)");
            if (e.getValue() == null) throw new IllegalArgumentException("environment variable '" + k + "' has no value (null)");
            if (k.isEmpty() || k.indexOf('=') >= 0 || k.indexOf('\0') >= 0 || e.getValue().indexOf('\0') >= 0) {
                throw new IllegalArgumentException("invalid environment variable: '" + k + "'");
            }
            entries.add(k + "=" + e.getValue());
        }
        return cStringArray(entries, arena);
    }

    private static void closeQuietly(int fd) {
        try {
            Syscalls.close(fd);
        } catch (SyscallException ignored) {
            // only fds this class opened are closed here; EBADF would be a bug, and nothing can be done about it
        }
    }
}
