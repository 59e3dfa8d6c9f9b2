package dev.panpipe.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * This JVM's open fds, as {@code /proc/self/fd} shows them: what the leak checks of every module compare
 * before and after a test. Files the JVM opens lazily for itself (a jar, a JDK file, the random device, a
 * {@code /proc} file) are not a test's doing and are left out of {@link #openedSince}.
 */
public final class OpenFds {
    private static final String JAVA_HOME = System.getProperty("java.home");

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
        snapshot().forEach((fd, target) -> {
            if (!target.equals(before.get(fd)) && !jvmOwn(target)) opened.add(fd + " -> " + target);
        });
        return opened;
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
