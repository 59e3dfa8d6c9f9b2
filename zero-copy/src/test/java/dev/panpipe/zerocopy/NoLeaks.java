package dev.panpipe.zerocopy;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

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

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fails a test that leaves a child process (running or zombie) or an fd that was not open before it,
 * shared memory ({@code /memfd:panpipe:...}) included. ipc-core's LeakCheck does the same there; its test
 * classes are not visible from this module.
 */
public final class NoLeaks implements BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(NoLeaks.class);

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NS).put("fds", fds());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        List<Long> children = ProcessHandle.current().children().map(ProcessHandle::pid).toList();
        if (!children.isEmpty()) fail(context.getDisplayName() + " left child processes: " + children);
        @SuppressWarnings("unchecked")
        Map<Integer, String> before = context.getStore(NS).get("fds", Map.class);
        assertNoFdLeftSince(before, context.getDisplayName());
    }

    /** This process's open fds and what they point at, for {@link #assertNoFdLeftSince}. */
    public static Map<Integer, String> openFds() {
        return fds();
    }

    /** Fails if an fd is open now that was not in {@code before}, files the JVM opens lazily aside. */
    public static void assertNoFdLeftSince(Map<Integer, String> before, String what) {
        List<String> leaked = leakedSince(before);
        if (!leaked.isEmpty()) fail(what + " left fds open: " + leaked);
    }

    private static List<String> leakedSince(Map<Integer, String> before) {
        List<String> leaked = new ArrayList<>();
        fds().forEach((fd, target) -> {
            // jars and JDK files the JVM opens lazily are not the test's doing
            boolean jvm = target.endsWith(".jar") || target.startsWith(System.getProperty("java.home"))
                    || target.endsWith("random") || target.startsWith("/proc/");
            if (!target.equals(before.get(fd)) && !jvm) leaked.add(fd + " -> " + target);
        });
        return leaked;
    }

    private static Map<Integer, String> fds() {
        Map<Integer, String> fds = new TreeMap<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                try {
                    fds.put(Integer.parseInt(p.getFileName().toString()), Files.readSymbolicLink(p).toString());
                } catch (NoSuchFileException gone) {
                    // the listing's own fd
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return fds;
    }
}
