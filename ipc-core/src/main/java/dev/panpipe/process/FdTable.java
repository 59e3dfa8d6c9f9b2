package dev.panpipe.process;

import dev.panpipe.bindings.linux.linux_h;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A process's open file descriptors, read from {@code /proc} (no native call), and for each pipe and FIFO
 * the other processes' fds open on it: what {@code ls -l /proc/PID/fd} and {@code lsof | grep pipe} show.
 *
 * {@snippet :
 * FdTable table = FdTable.of(pid);
 * for (FdInfo fd : table.fds()) {
 *     // 0 pipe r pipe:[81234] <- written by 4711 (producer) fd 1
 *     System.out.println(fd.fd() + " " + fd.kind().label() + " " + fd.access().label() + " " + fd.target());
 *     fd.otherEnds().forEach(h -> System.out.println("   " + h.pid() + " (" + h.command() + ") fd " + h.fd()));
 * }
 * }
 *
 * <p>The peers of a pipe are found by its inode ({@code pipe:[N]}) in every {@code /proc/*}{@code /fd}; a
 * FIFO's by the same path in the link, confirmed by device and inode. Processes whose fds may not be read
 * (another user's, or not dumpable) are skipped and listed in {@link #unreadable()}; processes and fds
 * that go away while being read are skipped silently. It is a snapshot: fds come and go meanwhile.
 *
 * <p>A {@link #zombie() zombie} (it has exited, and its parent has not reaped it yet) has no fds: its
 * {@code /proc/PID/fd} is empty, which alone would look like a live process with nothing open, so the
 * table says which it is ({@link #state()}, {@link #parent()}). A process whose main thread has exited
 * while other threads run has an empty {@code /proc/PID/fd} too (the leader's task shows state Z), though
 * its fds are open, shared by the threads left: they are read through one of those
 * ({@code /proc/PID/task/TID/fd}, see {@link #thread()}), for the process itself and for the peers.
 */
public final class FdTable {
    private static final Path PROC = Path.of("/proc");
    private static final Pattern PIPE = Pattern.compile("pipe:\\[(\\d+)]");
    private static final Pattern SOCKET = Pattern.compile("socket:\\[(\\d+)]");
    private static final Pattern ANON = Pattern.compile("anon_inode:\\[?([^\\]]*)]?");
    private static final Pattern NUMBER = Pattern.compile("\\d+");
    /** Threads tried, one after the other, when those found alive end while their fds are read. */
    private static final int THREAD_ATTEMPTS = 8;

    private final long pid;
    private final String command;
    private final Status status;
    private final long thread;
    private final String parentCommand;
    private final List<FdInfo> fds;
    private final List<Unreadable> unreadable;

    /** A process whose fds could not be read while looking for the other ends of pipes and FIFOs. */
    public record Unreadable(long pid, String command, String reason) {
    }

    /** What the State, Tgid (the process a thread is of) and PPid lines of {@code /proc/PID/status} (or of a thread's) say. */
    private record Status(String state, long process, long parent) {
        /** Z (zombie), and X (dead: being reaped, seen for an instant): no fds any more. */
        boolean exited() {
            return zombie() || state.equals("dead");
        }

        boolean zombie() {
            return state.equals("zombie");
        }
    }

    private FdTable(long pid, String command, Status status, long thread, List<FdInfo> fds, List<Unreadable> unreadable) {
        this.pid = pid;
        this.command = command;
        this.status = status;
        this.thread = thread;
        this.parentCommand = status.parent() > 0 ? command(status.parent()) : "?";
        this.fds = List.copyOf(fds);
        this.unreadable = List.copyOf(unreadable);
    }

    /**
     * Reads process {@code pid}'s fds, then every readable process's, for the peers of its pipes and FIFOs.
     * A zombie gives a table without fds that says so ({@link #zombie()}), even if its fds could not
     * have been read (another user's): it has none to hide.
     *
     * @throws NoSuchFileException if there is no such process (or it ended while being read), or {@code pid} is a
     *         thread's id, not a process's: the message says which (and names the thread's process)
     * @throws AccessDeniedException if its fds may not be read (another user's process, or not dumpable)
     */
    public static FdTable of(long pid) throws IOException {
        if (pid <= 0) throw new IllegalArgumentException("not a process id: " + pid);
        Path process = PROC.resolve(Long.toString(pid));
        List<Raw> raws;
        try {
            raws = readFds(pid, process);
        } catch (AccessDeniedException e) {
            // A zombie has nothing to hide: say what it is rather than that it may not be read. A thread's id
            // is no process, whoever may read it: the same answer as for a readable one (below).
            Status status = statusIfPresent(process);
            if (status != null && status.process() != 0 && status.process() != pid) throw threadNotProcess(pid, process, status);
            if (status != null && status.zombie() && liveThread(pid) == 0) return zombie(pid, status);
            throw e;
        }
        // The state is read after the fds: a process that exits in between is then reported as the
        // zombie it has become, not as a live one with (some of) its fds gone.
        Status status = statusIfPresent(process);
        if (status == null) throw ended(pid, process);
        if (status.process() != 0 && status.process() != pid) {
            // A thread's id: /proc/TID is there, though not listed, with its process's fds, which as a
            // process of its own would each be found again as their own other end in /proc/TGID.
            throw threadNotProcess(pid, process, status);
        }
        long thread = 0;
        // The main thread has exited; the others, if any, share the fds: read them through one of those. A
        // thread that ends while being read leaves an empty or partial list, so then another is tried.
        for (int attempt = 0; status.exited(); attempt++) {
            thread = liveThread(pid);
            if (thread == 0) {
                if (status.zombie()) return zombie(pid, status);
                throw ended(pid, process);       // X (dead): being reaped at this moment
            }
            if (attempt == THREAD_ATTEMPTS) {
                throw new IOException("process " + pid + ": its main thread has exited, and each other thread ended while its fds were read");
            }
            Path task = process.resolve("task/" + thread);
            try {
                raws = readFds(pid, task);
            } catch (NoSuchFileException threadEnded) {
                continue;
            }
            Status threadStatus = statusIfPresent(task);
            if (threadStatus == null || threadStatus.exited()) continue;
            status = new Status(threadStatus.state(), pid, status.parent());
            process = task;
        }
        List<Unreadable> unreadable = new ArrayList<>();
        findPeers(pid, raws, unreadable);
        Map<Long, String> sockets = raws.stream().anyMatch(r -> r.kind == FdInfo.Kind.SOCKET) ? sockets(process) : Map.of();
        List<FdInfo> fds = new ArrayList<>(raws.size());
        for (Raw r : raws) {
            List<String> details = new ArrayList<>();
            if (r.kind == FdInfo.Kind.SOCKET && sockets.containsKey(r.inode)) details.add("protocol: " + sockets.get(r.inode));
            details.addAll(r.details);
            r.peers.sort(Comparator.comparingLong(FdInfo.Holder::pid).thenComparingInt(FdInfo.Holder::fd));
            fds.add(new FdInfo(r.fd, r.kind, r.target, r.path, r.device, r.inode, FdInfo.Access.ofFlags(r.flags), r.flags,
                    r.position, details, r.peers));
        }
        return new FdTable(pid, command(pid), status, thread, fds, unreadable);
    }

    /** The fds in {@code dir}/fd ({@code /proc/PID} or one of its threads, {@code /proc/PID/task/TID}), by number. */
    private static List<Raw> readFds(long pid, Path dir) throws IOException {
        Path fdDir = dir.resolve("fd");
        List<Raw> raws = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(fdDir)) {
            for (Path entry : entries) {
                Raw raw = read(dir, entry);
                if (raw != null) raws.add(raw);
            }
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(fdDir.toString(), null, "no process " + pid);
        } catch (AccessDeniedException e) {
            throw new AccessDeniedException(fdDir.toString(), null, "may not read the fds of process " + pid
                    + " (" + command(pid) + "): it belongs to another user or is not dumpable; try as its owner or root");
        }
        if (!Files.isDirectory(dir)) throw ended(pid, dir);
        raws.sort(Comparator.comparingInt(r -> r.fd));
        return raws;
    }

    private static NoSuchFileException threadNotProcess(long tid, Path dir, Status status) {
        return new NoSuchFileException(dir.resolve("fd").toString(), null,
                "no process " + tid + " (it is a thread of process " + status.process() + ")");
    }

    /** A process that has exited as a whole: no fds, nor peers to look for. */
    private static FdTable zombie(long pid, Status status) {
        return new FdTable(pid, command(pid), status, 0, List.of(), List.of());
    }

    private static NoSuchFileException ended(long pid, Path dir) {
        return new NoSuchFileException(dir.resolve("fd").toString(), null, "no process " + pid + " (it ended while being read)");
    }

    /** The state and parent in {@code dir}/status, or null if it is gone. */
    private static Status statusIfPresent(Path dir) throws IOException {
        List<String> lines;
        try {
            // Latin-1: the Name line holds the command name, any bytes, which UTF-8 would refuse (the fields read are ASCII)
            lines = Files.readAllLines(dir.resolve("status"), StandardCharsets.ISO_8859_1);
        } catch (NoSuchFileException | AccessDeniedException gone) {
            return null;        // gone, or hidden (hidepid): either way nothing to say about it
        } catch (IOException e) {
            if (!Files.isDirectory(dir)) return null;       // reaped between open and read: ESRCH
            throw e;
        }
        String state = "?";
        long process = 0, parent = 0;
        for (String line : lines) {
            // "State:\tZ (zombie)": the word in parentheses; "PPid:\t4711"
            if (line.startsWith("State:")) {
                int open = line.indexOf('('), close = line.lastIndexOf(')');
                state = open >= 0 && close > open ? line.substring(open + 1, close) : line.substring("State:".length()).strip();
            } else if (line.startsWith("Tgid:")) {
                process = Long.parseLong(line.substring("Tgid:".length()).strip());
            } else if (line.startsWith("PPid:")) {
                parent = Long.parseLong(line.substring("PPid:".length()).strip());
            }
        }
        return new Status(state, process, parent);
    }

    /**
     * A thread of {@code pid} other than the main one that has not exited, or 0 if there is none: the
     * process has exited as a whole (a zombie), or its main thread alone has (see the class comment).
     */
    private static long liveThread(long pid) throws IOException {
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(PROC.resolve(pid + "/task"), p -> NUMBER.matcher(p.getFileName().toString()).matches())) {
            for (Path task : tasks) {
                long tid = Long.parseLong(task.getFileName().toString());
                if (tid == pid) continue;
                Status s = statusIfPresent(task);
                if (s != null && !s.exited()) return tid;
            }
        } catch (NoSuchFileException | AccessDeniedException gone) {
            // reaped meanwhile, or not ours to look into: no thread to read through
        }
        return 0;
    }

    public long pid() {
        return pid;
    }

    /** The process's command name ({@code /proc/PID/comm}), or "?" if it could not be read. */
    public String command() {
        return command;
    }

    /**
     * How the process stands, in the words of the State line of {@code /proc/PID/status}: "running",
     * "sleeping", "disk sleep", "stopped", "tracing stop", "zombie", "idle", ...; for a process whose main
     * thread has exited while others run, that of the thread its fds were read through ({@link #thread()}).
     */
    public String state() {
        return status.state();
    }

    /** True if the process has exited and its parent has not reaped it yet: it has no fds, and {@link #fds()} is empty. */
    public boolean zombie() {
        return status.zombie();
    }

    /** The parent's pid (PPid), who is to reap it: for a {@link #zombie()}, the one that has not yet. 0 if unknown. */
    public long parent() {
        return status.parent();
    }

    /** The parent's command name, or "?" if it could not be read. */
    public String parentCommand() {
        return parentCommand;
    }

    /**
     * The thread whose fd table was read, if the main thread has exited while others run (its
     * {@code /proc/PID/fd} is then empty, though the threads left share the fds); empty otherwise.
     */
    public OptionalLong thread() {
        return thread == 0 ? OptionalLong.empty() : OptionalLong.of(thread);
    }

    /** Every fd, by number. */
    public List<FdInfo> fds() {
        return fds;
    }

    public Optional<FdInfo> fd(int fd) {
        return fds.stream().filter(f -> f.fd() == fd).findFirst();
    }

    /** The processes whose fds could not be read when looking for peers (so a peer may be missing). */
    public List<Unreadable> unreadable() {
        return unreadable;
    }

    // ----------------------------------------------------------------------------------------------

    /** What one fd of one process is, before peers are known. */
    private static final class Raw {
        int fd;
        String target;
        FdInfo.Kind kind;
        Path path;
        long device;
        long inode;
        int flags;
        long position;
        final List<String> details = new ArrayList<>();
        final List<FdInfo.Holder> peers = new ArrayList<>();
    }

    /** One fd of the process or thread whose /proc folder is {@code dir}, or null if it was closed meanwhile. */
    private static Raw read(Path dir, Path link) throws IOException {
        String name = link.getFileName().toString();
        if (!NUMBER.matcher(name).matches()) return null;
        Raw r = new Raw();
        r.fd = Integer.parseInt(name);
        try {
            r.target = Files.readSymbolicLink(link).toString();
        } catch (NoSuchFileException closed) {
            return null;
        }
        int mode = 0;
        try {
            Map<String, Object> st = Files.readAttributes(link, "unix:mode,ino,dev");   // follows the link: the open file itself
            mode = (Integer) st.get("mode");
            r.inode = (Long) st.get("ino");
            r.device = (Long) st.get("dev");
        } catch (IOException | UnsupportedOperationException e) {
            // gone meanwhile, or not stat-able through the link: the link text still says what it is
        }
        if (!readFdinfo(dir, r.fd, r)) return null;
        r.kind = kind(r.target, mode);
        if (r.target.startsWith("/") && r.kind != FdInfo.Kind.MEMFD) r.path = Path.of(stripDeleted(r.target));
        Matcher pipe = PIPE.matcher(r.target);
        if (pipe.matches() && r.inode == 0) r.inode = Long.parseLong(pipe.group(1));
        Matcher socket = SOCKET.matcher(r.target);
        if (socket.matches() && r.inode == 0) r.inode = Long.parseLong(socket.group(1));
        return r;
    }

    /** Fills flags, position and the other lines of fdinfo; false if the fd is gone. */
    private static boolean readFdinfo(Path dir, int fd, Raw r) throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(dir.resolve("fdinfo/" + fd));
        } catch (NoSuchFileException closed) {
            return false;
        }
        for (String line : lines) {
            int colon = line.indexOf(':');
            String key = colon < 0 ? line : line.substring(0, colon);
            String value = colon < 0 ? "" : line.substring(colon + 1).strip();
            switch (key) {
                case "flags" -> r.flags = Integer.parseInt(value, 8);
                case "pos" -> r.position = Long.parseLong(value);
                case "mnt_id", "ino" -> { }
                default -> {
                    if (!line.isBlank()) r.details.add(key + ": " + value.replaceAll("\\s+", " "));
                }
            }
        }
        return true;
    }

    private static FdInfo.Kind kind(String target, int mode) {
        if (target.startsWith("pipe:")) return FdInfo.Kind.PIPE;
        if (target.startsWith("socket:")) return FdInfo.Kind.SOCKET;
        if (target.startsWith("/memfd:")) return FdInfo.Kind.MEMFD;
        if (target.startsWith("pidfd:")) return FdInfo.Kind.PIDFD;         // pidfs (Linux 6.9+) names them so
        Matcher anon = ANON.matcher(target);
        if (anon.matches()) {
            return switch (anon.group(1)) {
                case "eventfd" -> FdInfo.Kind.EVENTFD;
                case "eventpoll" -> FdInfo.Kind.EPOLL;
                case "pidfd" -> FdInfo.Kind.PIDFD;
                case "signalfd" -> FdInfo.Kind.SIGNALFD;
                case "timerfd" -> FdInfo.Kind.TIMERFD;
                case "inotify" -> FdInfo.Kind.INOTIFY;
                default -> FdInfo.Kind.ANON_INODE;
            };
        }
        if (!target.startsWith("/")) return FdInfo.Kind.OTHER;
        int type = mode & linux_h.S_IFMT();
        if (type == linux_h.S_IFIFO()) return FdInfo.Kind.FIFO;
        if (type == linux_h.S_IFREG()) return FdInfo.Kind.REGULAR_FILE;
        if (type == linux_h.S_IFDIR()) return FdInfo.Kind.DIRECTORY;
        if (type == linux_h.S_IFCHR()) return FdInfo.Kind.CHAR_DEVICE;
        if (type == linux_h.S_IFBLK()) return FdInfo.Kind.BLOCK_DEVICE;
        if (type == linux_h.S_IFSOCK()) return FdInfo.Kind.SOCKET;
        return FdInfo.Kind.OTHER;
    }

    private static String stripDeleted(String target) {
        return target.endsWith(" (deleted)") ? target.substring(0, target.length() - " (deleted)".length()) : target;
    }

    /**
     * Scans every process's fds for the pipes (by inode) and FIFOs (by path, then device and inode) that
     * {@code pid} has open, and adds each other fd found to the peers of every one of pid's fds on it.
     */
    private static void findPeers(long pid, List<Raw> raws, List<Unreadable> unreadable) throws IOException {
        Map<Long, List<Raw>> pipes = new HashMap<>();
        Map<String, List<Raw>> fifos = new HashMap<>();
        for (Raw r : raws) {
            if (r.kind == FdInfo.Kind.PIPE) pipes.computeIfAbsent(r.inode, k -> new ArrayList<>()).add(r);
            if (r.kind == FdInfo.Kind.FIFO) fifos.computeIfAbsent(r.target, k -> new ArrayList<>()).add(r);
        }
        if (pipes.isEmpty() && fifos.isEmpty()) return;
        Map<Long, String> commands = new HashMap<>();
        try (DirectoryStream<Path> processes = Files.newDirectoryStream(PROC, p -> NUMBER.matcher(p.getFileName().toString()).matches())) {
            for (Path process : processes) {
                long other = Long.parseLong(process.getFileName().toString());
                try {
                    if (!findPeersIn(pid, other, process, pipes, fifos, commands)) {
                        // No fd at all: a kernel thread, a zombie, or a process whose main thread has exited
                        // while others, holding the fds, run on (see of): then they are read through one of those.
                        long thread = liveThread(other);
                        if (thread != 0) findPeersIn(pid, other, process.resolve("task/" + thread), pipes, fifos, commands);
                    }
                } catch (NoSuchFileException ended) {
                    // the process ended while being read
                } catch (AccessDeniedException e) {
                    unreadable.add(new Unreadable(other, command(other), "permission denied"));
                } catch (IOException e) {
                    unreadable.add(new Unreadable(other, command(other), e.toString()));
                }
            }
        }
    }

    /**
     * Adds the fds in {@code dir}/fd (process {@code other}'s, or one of its threads') that are on one of
     * {@code pid}'s pipes or FIFOs to the peers of those; false if there were no fds at all.
     */
    private static boolean findPeersIn(long pid, long other, Path dir, Map<Long, List<Raw>> pipes, Map<String, List<Raw>> fifos,
                                       Map<Long, String> commands) throws IOException {
        boolean any = false;
        try (DirectoryStream<Path> links = Files.newDirectoryStream(dir.resolve("fd"))) {
            for (Path link : links) {
                any = true;
                String target;
                try {
                    target = Files.readSymbolicLink(link).toString();
                } catch (NoSuchFileException closed) {
                    continue;
                }
                List<Raw> on = matches(target, link, pipes, fifos);
                if (on.isEmpty()) continue;
                int fd = Integer.parseInt(link.getFileName().toString());
                Raw theirs = new Raw();
                if (!readFdinfo(dir, fd, theirs)) continue;
                String command = commands.computeIfAbsent(other, FdTable::command);
                for (Raw mine : on) {
                    if (other == pid && fd == mine.fd) continue;
                    mine.peers.add(new FdInfo.Holder(other, command, fd, FdInfo.Access.ofFlags(theirs.flags)));
                }
            }
        }
        return any;
    }

    private static List<Raw> matches(String target, Path link, Map<Long, List<Raw>> pipes, Map<String, List<Raw>> fifos) {
        Matcher pipe = PIPE.matcher(target);
        if (pipe.matches()) return pipes.getOrDefault(Long.parseLong(pipe.group(1)), List.of());
        List<Raw> candidates = fifos.get(target);
        if (candidates == null) return List.of();
        try {
            // The same path could name another file in another mount namespace: compare the files themselves.
            Map<String, Object> st = Files.readAttributes(link, "unix:ino,dev");
            long ino = (Long) st.get("ino"), dev = (Long) st.get("dev");
            return candidates.stream().filter(r -> r.inode == ino && r.device == dev).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /**
     * inode -> "unix", "unix /path", "tcp", "udp6", ... from the process's own view of /proc/net ({@code dir}:
     * its /proc folder, or that of the thread its fds were read through).
     */
    private static Map<Long, String> sockets(Path dir) {
        Map<Long, String> protocols = new LinkedHashMap<>();
        Path net = dir.resolve("net");
        for (String protocol : List.of("unix", "tcp", "tcp6", "udp", "udp6", "raw", "raw6")) {
            List<String> lines;
            try {
                lines = Files.readAllLines(net.resolve(protocol));
            } catch (IOException e) {
                continue;
            }
            for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                String[] f = line.strip().split("\\s+");
                try {
                    if (protocol.equals("unix")) {
                        if (f.length >= 7) protocols.put(Long.parseLong(f[6]), f.length >= 8 ? "unix " + f[7] : "unix");
                    } else if (f.length >= 10) {
                        protocols.put(Long.parseLong(f[9]), protocol);
                    }
                } catch (NumberFormatException skip) {
                    // a line of another layout: not one of ours
                }
            }
        }
        return protocols;
    }

    private static String command(long pid) {
        try {
            // Not Files.readString: /proc files report size 0, and on some (sysctl) readString gets one byte. Not
            // readAllLines either: a name is any bytes, and one that is not UTF-8 is shown with replacement characters.
            byte[] name;
            try (InputStream in = Files.newInputStream(PROC.resolve(pid + "/comm"))) {
                name = in.readAllBytes();
            }
            int end = name.length > 0 && name[name.length - 1] == '\n' ? name.length - 1 : name.length;
            return name.length == 0 ? "?" : new String(name, 0, end, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "?";
        }
    }
}
