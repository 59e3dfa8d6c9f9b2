package dev.panpipe.worker;

import dev.panpipe.connection.ConnectionOptions;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What worker to start and how: a Java class with a {@code main} that uses {@link WorkerContext} (run in
 * a new JVM with this one's module and class path), or any command that speaks the frame protocol
 * (docs/frame-protocol.md, section Workers).
 */
public final class WorkerSpec {
    /** Where a worker's results come back. */
    public enum ResultPath {
        /** A FIFO panpipe creates for the worker in a private 0700 directory (the default). */
        FIFO,
        /** The worker's stdout. */
        STDOUT
    }

    /** The variables panpipe sets for every worker: its protocol, so a spec may not change them. */
    private static final List<String> RESERVED_ENVIRONMENT = List.of("PANPIPE_WORKER_NAME", "PANPIPE_RESULTS", "PANPIPE_MAX_MESSAGE_SIZE");

    private final String name;
    private final Class<?> mainClass;          // null for a command worker
    private final List<String> command;        // the command, or the Java main's arguments
    private final List<String> jvmOptions = new ArrayList<>();
    private final Map<String, String> environment = new LinkedHashMap<>();
    private int inboxCapacity = 1024;
    private InboxOverflow overflow = InboxOverflow.BLOCK;
    private ConnectionOptions connection = ConnectionOptions.defaults();
    private ResultPath resultPath = ResultPath.FIFO;
    private String fifoName;
    private Duration connectTimeout = Duration.ofSeconds(30);
    private Duration destroyGrace = Duration.ofSeconds(5);
    private boolean blockingWrites = true;
    private final List<String> launcher = new ArrayList<>();
    private final Map<Integer, Long> passedFds = new LinkedHashMap<>();

    private WorkerSpec(String name, Class<?> mainClass, List<String> command) {
        if (name.isEmpty() || !name.matches("[A-Za-z0-9._-]+")) {
            throw new IllegalArgumentException("worker name must be letters, digits, '.', '_' or '-': '" + name + "'");
        }
        this.name = name;
        this.mainClass = mainClass;
        this.command = new ArrayList<>(command);
    }

    /** A Java worker: {@code mainClass.main(args)} in a new JVM with this JVM's module and class path. */
    public static WorkerSpec java(String name, Class<?> mainClass, String... args) {
        Objects.requireNonNull(mainClass);
        return new WorkerSpec(name, mainClass, List.of(args));
    }

    /** A worker program that speaks the frame protocol. */
    public static WorkerSpec command(String name, String... command) {
        if (command.length == 0) throw new IllegalArgumentException("empty worker command");
        return new WorkerSpec(name, null, List.of(command));
    }

    /** More arguments for the program or the Java main. */
    public WorkerSpec args(String... args) {
        command.addAll(List.of(args));
        return this;
    }

    /** Options for a Java worker's JVM (-Xmx..., -D...). */
    public WorkerSpec jvmOptions(String... options) {
        jvmOptions.addAll(List.of(options));
        return this;
    }

    /**
     * An environment variable for the worker, on top of the parent's environment.
     *
     * @throws IllegalArgumentException if {@code key} is no variable name (empty, or with '=' or NUL), if
     *         {@code value} holds a NUL, or if {@code key} is one of the variables panpipe sets itself
     *         ({@code PANPIPE_WORKER_NAME}, {@code PANPIPE_RESULTS}, {@code PANPIPE_MAX_MESSAGE_SIZE}: use
     *         the spec's name, {@link #results} and {@link #maxMessageSize})
     */
    public WorkerSpec environment(String key, String value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        if (key.isEmpty() || key.indexOf('=') >= 0 || key.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("not an environment variable name: '" + key + "'");
        }
        if (value.indexOf('\0') >= 0) throw new IllegalArgumentException("the value of environment variable " + key + " holds a NUL byte");
        if (RESERVED_ENVIRONMENT.contains(key)) {
            throw new IllegalArgumentException("environment variable " + key + " is set by panpipe for the worker protocol");
        }
        environment.put(key, value);
        return this;
    }

    /** How many results may wait untaken (default 1024). */
    public WorkerSpec inboxCapacity(int capacity) {
        if (capacity <= 0) throw new IllegalArgumentException("inbox capacity must be positive: " + capacity);
        this.inboxCapacity = capacity;
        return this;
    }

    /** What a full inbox does: {@link InboxOverflow#BLOCK} (default) or {@link InboxOverflow#DROP_OLDEST}. */
    public WorkerSpec overflow(InboxOverflow overflow) {
        this.overflow = Objects.requireNonNull(overflow);
        return this;
    }

    /** The largest message accepted either way (default {@link ConnectionOptions#DEFAULT_MAX_MESSAGE_SIZE}). */
    public WorkerSpec maxMessageSize(int bytes) {
        this.connection = connection.withMaxMessageSize(bytes);
        return this;
    }

    /** Where results come back (default {@link ResultPath#FIFO}). */
    public WorkerSpec results(ResultPath path) {
        this.resultPath = Objects.requireNonNull(path);
        return this;
    }

    /**
     * The results FIFO's file name in the private directory (default {@code <name>.results}; null: the default).
     *
     * @throws IllegalArgumentException if it is not a single path element
     */
    public WorkerSpec fifoName(String fifoName) {
        if (fifoName != null && (fifoName.isEmpty() || fifoName.contains("/") || fifoName.indexOf('\0') >= 0
                || fifoName.equals(".") || fifoName.equals(".."))) {
            throw new IllegalArgumentException("results FIFO name must be a single path element: '" + fifoName + "'");
        }
        this.fifoName = fifoName;
        return this;
    }

    /**
     * How long the worker has to connect (send its hello) after it starts (default 30 s; one longer than
     * about 292 years is capped there).
     *
     * @throws IllegalArgumentException if {@code timeout} is negative
     */
    public WorkerSpec connectTimeout(Duration timeout) {
        if (timeout.isNegative()) throw new IllegalArgumentException("negative connect timeout: " + timeout);
        this.connectTimeout = timeout;
        return this;
    }

    /**
     * How long close waits for the worker to drain, and again after SIGTERM (default 5 s).
     *
     * @throws IllegalArgumentException if {@code grace} is negative
     */
    public WorkerSpec destroyGrace(Duration grace) {
        if (grace.isNegative()) throw new IllegalArgumentException("negative grace period: " + grace);
        this.destroyGrace = grace;
        return this;
    }

    /**
     * Whether {@link Worker#send} waits while the worker's stdin pipe is full (default true). With false,
     * a message that does not fit in the pipe right now is not sent at all and the send throws
     * {@link WorkerBusyException}: the caller can do something else and retry.
     */
    public WorkerSpec blockingWrites(boolean blocking) {
        this.blockingWrites = blocking;
        return this;
    }

    /**
     * Starts the worker through a launcher prefix, e.g. {@code launchedThrough("taskset", "-c", "1")} to pin
     * it to a CPU, {@code "nice", "-n", "10"}, or {@code "env", "MALLOC_ARENA_MAX=2"}: the prefix comes
     * before the program (or the {@code java} command of a Java worker) and must exec it.
     */
    public WorkerSpec launchedThrough(String... prefix) {
        launcher.addAll(List.of(prefix));
        return this;
    }

    /**
     * Hands this process's {@code fd} to the worker as {@code childFd} (3 or more): how shared memory such as
     * a frame ring's memfd reaches it. The fd is lent, not given: this process still owns and closes it.
     */
    public WorkerSpec passFd(int childFd, long fd) {
        if (childFd < 3) throw new IllegalArgumentException("fds 0-2 belong to the worker protocol, not passFd: " + childFd);
        if (fd < 0) throw new IllegalArgumentException("not an open fd: " + fd);
        passedFds.put(childFd, fd);
        return this;
    }

    public String name() { return name; }
    public Map<Integer, Long> passedFds() { return Map.copyOf(passedFds); }
    public Class<?> mainClass() { return mainClass; }
    public List<String> command() { return List.copyOf(command); }
    public List<String> jvmOptions() { return List.copyOf(jvmOptions); }
    public Map<String, String> environment() { return Map.copyOf(environment); }
    public int inboxCapacity() { return inboxCapacity; }
    public InboxOverflow overflow() { return overflow; }
    public ConnectionOptions connection() { return connection; }
    public ResultPath resultPath() { return resultPath; }
    public String fifoName() { return fifoName != null ? fifoName : name + ".results"; }
    public Duration connectTimeout() { return connectTimeout; }
    public Duration destroyGrace() { return destroyGrace; }
    public boolean blockingWrites() { return blockingWrites; }
    public List<String> launcher() { return List.copyOf(launcher); }
}
