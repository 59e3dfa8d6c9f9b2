package dev.panpipe.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * This JVM's open fds, as {@code /proc/self/fd} shows them: what the leak checks of every module compare
 * before and after a test. Files the JVM opens lazily for itself (a jar, a JDK file, the random device, a
 * {@code /proc} file) are not a test's doing and are left out of {@link #openedSince}.
 */
public final class OpenFds {
    private static final String JAVA_HOME = System.getProperty("java.home");
    private static final String EPOLL = "anon_inode:[eventpoll]";
    private static final String POLLER_THREAD = "panpipe-vt-poller (epoll fd ";

    private OpenFds() {
    }

    /** fd number -> link target, for every open fd of this JVM (the listing's own directory fd included). */
    public static Map<Integer, String> snapshot() {
        Map<Integer, String> fds = new TreeMap<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                try {
                    fds.put(Integer.parseInt(p.getFileName().toString()), Files.readSymbolicLink(p).toString());
                } catch (NoSuchFileException gone) {
                    // closed while listed
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return fds;
    }

    /** The fds open now that were not in {@code before}, as "fd -> target", the JVM's own left out. */
    public static List<String> openedSince(Map<Integer, String> before) {
        List<String> opened = new ArrayList<>();
        Set<Integer> pollers = virtualThreadPollerFds();
        snapshot().forEach((fd, target) -> {
            if (!target.equals(before.get(fd)) && !jvmOwn(target) && !(pollers.contains(fd) && target.equals(EPOLL)))
                opened.add(fd + " -> " + target);
        });
        return opened;
    }

    /**
     * The epoll fd of panpipe's virtual-thread poller: made by the first virtual thread that has to wait for an fd
     * and kept for the life of the process, like the JDK's own pollers, so not a leak of the test that made it. Its
     * thread names it ("panpipe-vt-poller (epoll fd N)"); read so because the poller's package is not exported to
     * the other modules' tests that use these checks.
     */
    private static Set<Integer> virtualThreadPollerFds() {
        Set<Integer> fds = new HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            String name = t.getName();
            if (name.startsWith(POLLER_THREAD) && name.endsWith(")")) {
                fds.add(Integer.parseInt(name.substring(POLLER_THREAD.length(), name.length() - 1)));
            }
        }
        return fds;
    }

    /** True for the listing's own directory fd, which {@link #snapshot} shows and has closed since. */
    public static boolean isListingItself(String target) {
        return target.startsWith("/proc/") && target.endsWith("/fd");
    }

    private static boolean jvmOwn(String target) {
        return target.endsWith(".jar") || (JAVA_HOME != null && target.startsWith(JAVA_HOME))
                || target.equals("/dev/random") || target.equals("/dev/urandom")   // SecureRandom, opened once
                || target.startsWith("/proc/");                                      // the listing, ProcessHandle's reads
    }
}
