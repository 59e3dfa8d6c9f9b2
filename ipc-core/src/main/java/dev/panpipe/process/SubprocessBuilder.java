package dev.panpipe.process;

import dev.panpipe.internal.linux.LinuxSpawner;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * What to start and how. The defaults: the parent's environment and working directory, a new pipe for
 * each of stdin, stdout and stderr (as {@link ProcessBuilder}), no other fd, the signal mask cleared and
 * every signal's disposition back to default, the same process group as the parent ({@link #processGroup(long)}).
 */
public final class SubprocessBuilder {
    private final List<String> command;
    private Path directory;
    private Map<String, String> environment;   // null: the parent's, unchanged
    private Redirect stdin = Redirect.pipe();
    private Redirect stdout = Redirect.pipe();
    private Redirect stderr = Redirect.pipe();
    private final Map<Integer, Redirect> extraFds = new TreeMap<>();
    private long processGroup = -1;             // -1: the parent's group; 0: a new one led by the child; else join it
    private Duration destroyGrace = Duration.ofSeconds(2);
    private int pipeCapacity = DEFAULT_PIPE_CAPACITY;

    /**
     * The kernel buffer asked for the child's stdin and stdout pipes: 1 MiB, the default
     * {@code /proc/sys/fs/pipe-max-size}. With the kernel's 64 KiB a bulk transfer pays a hand-off between
     * writer and reader every 64 KiB; at 1 MiB a 64 KiB-write stream runs 1.2x faster when both ends share
     * a core and 3.4x when they do not (bench/results). stderr keeps the kernel default.
     */
    public static final int DEFAULT_PIPE_CAPACITY = 1 << 20;

    SubprocessBuilder(List<String> command) {
        if (command.isEmpty()) throw new IllegalArgumentException("empty command");
        for (String word : command) {
            if (word.indexOf('\0') >= 0) throw new IllegalArgumentException("NUL byte in command word: " + word.replace("\0", "\\0"));
        }
        this.command = List.copyOf(command);
    }

    /** The child's working directory (default: the parent's). */
    public SubprocessBuilder directory(Path directory) {
        this.directory = directory;
        return this;
    }

    /**
     * The child's environment as a mutable map, a copy of the parent's on first call: add, change or
     * remove entries in it, or {@code clear()} it to start from nothing.
     */
    public Map<String, String> environment() {
        if (environment == null) environment = new HashMap<>(System.getenv());
        return environment;
    }

    /** Replaces the child's environment with exactly {@code env}. */
    public SubprocessBuilder environment(Map<String, String> env) {
        environment = new HashMap<>(env);
        return this;
    }

    /** Adds or changes one variable, keeping the rest of the parent's environment. */
    public SubprocessBuilder environment(String name, String value) {
        Objects.requireNonNull(name, "environment variable name");
        Objects.requireNonNull(value, () -> "value of environment variable " + name);
        environment().put(name, value);
        return this;
    }

    public SubprocessBuilder stdin(Redirect redirect) {
        this.stdin = notToStdout(redirect);
        return this;
    }

    public SubprocessBuilder stdout(Redirect redirect) {
        this.stdout = notToStdout(redirect);
        return this;
    }

    /** {@code redirect}, unless it is null or {@link Redirect#toStdout()}, which only stderr can take. */
    static Redirect notToStdout(Redirect redirect) {
        if (redirect instanceof Redirect.ToStdout) throw new IllegalArgumentException("toStdout() is for stderr only");
        return Objects.requireNonNull(redirect);
    }

    public SubprocessBuilder stderr(Redirect redirect) {
        this.stderr = Objects.requireNonNull(redirect);
        return this;
    }

    /** Sends stderr where stdout goes ({@code 2>&1}). */
    public SubprocessBuilder mergeStderr() {
        return stderr(Redirect.toStdout());
    }

    /**
     * Hands the child one more fd, numbered {@code childFd} (3 or more) in the child: one of the parent's
     * ends ({@link Redirect#from(dev.panpipe.io.ReadEnd)}, {@link Redirect#to(dev.panpipe.io.WriteEnd)}),
     * an fd ({@link Redirect#fd(int)}), a file, or {@link Redirect#discard()}.
     */
    public SubprocessBuilder passFd(int childFd, Redirect source) {
        if (childFd < 3) throw new IllegalArgumentException("fds 0-2 are set with stdin/stdout/stderr, not passFd: " + childFd);
        if (source instanceof Redirect.Pipe || source instanceof Redirect.ToStdout || source instanceof Redirect.Inherit) {
            throw new IllegalArgumentException("passFd takes an end, an fd, a file or discard(), not " + source);
        }
        extraFds.put(childFd, Objects.requireNonNull(source));
        return this;
    }

    /**
     * The kernel buffer for the child's stdin and stdout pipes, best effort ({@code F_SETPIPE_SZ}); 0 keeps the
     * kernel's default (64 KiB). Default {@link #DEFAULT_PIPE_CAPACITY}.
     *
     * <p>Linux counts every pipe page a user holds: past {@code /proc/sys/fs/pipe-user-pages-soft} (64 MiB by
     * default) every new pipe of an unprivileged user, in any of its programs, gets 8 KiB. So an unprivileged
     * process enlarges its children's pipes only while the extra pages it holds that way stay under half that
     * limit (32 MiB: about 34 pipes of 1 MiB at once); later children get 64 KiB until earlier ones close
     * theirs. Privileged processes ({@code CAP_SYS_RESOURCE}, {@code CAP_SYS_ADMIN}) are not limited.
     */
    public SubprocessBuilder pipeCapacity(int bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative pipe capacity: " + bytes);
        this.pipeCapacity = bytes;
        return this;
    }

    /**
     * Starts the child in a new process group of its own, which it leads (so a terminal's Ctrl-C does not reach
     * it), as {@link #processGroup(long) processGroup(0)}; {@code false} leaves it in the parent's group (the
     * default).
     */
    public SubprocessBuilder newProcessGroup(boolean newProcessGroup) {
        this.processGroup = newProcessGroup ? 0 : -1;
        return this;
    }

    /**
     * The process group the child is put in before it runs ({@code POSIX_SPAWN_SETPGROUP}, which is
     * {@code setpgid(0, pgid)} in the child): 0 for a new group led by the child, its number being the child's
     * pid, or the number of an existing group of this session to join, as a shell puts each stage of a job in
     * the group of the job's first. A signal sent to the group ({@code kill(-pgid, sig)}) reaches every member,
     * what they started too (the {@code sleep} of {@code sh -c 'sleep 100 & wait'}), unless it moved to a
     * group of its own.
     *
     * <p>A group's number is its leader's pid: once the leader has ended and been reaped, and the group has no
     * member left, the number may be given to a new process, so a group should be joined or signalled only
     * while its leader is known not to be reaped (as {@link Pipeline} does). A child outside the terminal's
     * foreground group that reads the terminal it inherited is stopped (SIGTTIN): give it a file or a pipe.
     * {@link Subprocess#close()} and {@link Subprocess#destroy} signal the child alone, never its group, also
     * when it leads one: their signals go by pidfd to this one process, whether or not a {@code waitFor} has
     * reaped it, while its group's number would be safe to signal only until then. For a child whose close ends
     * its group, start it as a one-stage {@link Pipeline} with {@link Pipeline#newProcessGroup(boolean)}.
     * A group that cannot be joined (none of that number, or another session's) is a {@link SpawnException}
     * saying which; as posix_spawn reports every step of the child with one errno, an EPERM while joining a
     * group of this session is said to be another step's (execve's, most likely), not setpgid's.
     *
     * @throws IllegalArgumentException if {@code pgid} is negative or larger than a pid can be
     * @see #newProcessGroup(boolean)
     */
    public SubprocessBuilder processGroup(long pgid) {
        if (pgid < 0) throw new IllegalArgumentException("negative process group: " + pgid + " (0 starts a new group)");
        if (pgid > Integer.MAX_VALUE) throw new IllegalArgumentException("process group " + pgid + " is larger than any pid");
        this.processGroup = pgid;
        return this;
    }

    /** How long {@link Subprocess#close()} waits for a child to exit after closing its stdin, and again after SIGTERM before SIGKILL (default 2 s). */
    public SubprocessBuilder destroyGrace(Duration grace) {
        if (grace.isNegative()) throw new IllegalArgumentException("negative grace period: " + grace);
        this.destroyGrace = grace;
        return this;
    }

    /**
     * Finds the program as {@link #start()} will, without starting anything: a name with a slash is a path
     * (relative to {@link #directory(Path)}), any other name is looked up in the child's {@code PATH}.
     * For checking every program of a group before starting any of them.
     *
     * @return the executable's absolute path
     * @throws ProgramNotFoundException if there is no such program ({@link ProgramNotFoundException#exists()}
     *         false) or it may not be executed (true)
     * @throws SpawnException if this process could not look (out of fds or memory: the cause names the errno)
     */
    public Path resolveProgram() throws SpawnException {
        return LinuxSpawner.resolve(command.get(0), this);
    }

    /**
     * Starts the child.
     *
     * @throws ProgramNotFoundException if the program does not exist or may not be executed
     * @throws SpawnException if posix_spawn fails for another reason
     * @throws dev.panpipe.bindings.SyscallException naming the file, if a redirect's file cannot be opened
     */
    public Subprocess start() throws IOException {
        return LinuxSpawner.spawn(this);
    }

    // ---- read by the platform spawner ----

    public List<String> command() {
        return command;
    }

    public Path directory() {
        return directory;
    }

    /** The child's environment, or null for the parent's unchanged. */
    public Map<String, String> environmentOrNull() {
        return environment;
    }

    public Redirect stdinRedirect() {
        return stdin;
    }

    public Redirect stdoutRedirect() {
        return stdout;
    }

    public Redirect stderrRedirect() {
        return stderr;
    }

    public Map<Integer, Redirect> extraFds() {
        return extraFds;
    }

    /** True if the child is to lead a new process group ({@code processGroup(0)}). */
    public boolean newProcessGroup() {
        return processGroup == 0;
    }

    /** The process group the child is put in: 0 for a new one it leads, empty to stay in the parent's. */
    public OptionalLong processGroup() {
        return processGroup < 0 ? OptionalLong.empty() : OptionalLong.of(processGroup);
    }

    public Duration destroyGrace() {
        return destroyGrace;
    }

    public int pipeCapacity() {
        return pipeCapacity;
    }
}
