package dev.panpipe.io;

import dev.panpipe.testing.OpenFds;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fails a test that leaves something behind: an fd of this JVM that was not open before it (checked
 * after each test and again for the whole class), or any child process of this JVM, running or zombie.
 *
 * <p>fds the JVM opens lazily for itself (a jar, a JDK file) are not the test's doing and are ignored.
 */
public final class LeakCheck implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(LeakCheck.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        context.getStore(NS).put("class-fds", openFds());
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NS).put("fds", openFds());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        String what = context.getDisplayName();
        assertNoChildren(what);
        @SuppressWarnings("unchecked")
        Map<Integer, String> before = context.getStore(NS).get("fds", Map.class);
        assertNoNewFds(what, before);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        String what = context.getDisplayName() + " (whole class)";
        assertNoChildren(what);
        @SuppressWarnings("unchecked")
        Map<Integer, String> before = context.getStore(NS).get("class-fds", Map.class);
        assertNoNewFds(what, before);
    }

    private static void assertNoNewFds(String what, Map<Integer, String> before) {
        List<String> leaked = OpenFds.openedSince(before);
        if (!leaked.isEmpty()) fail(what + " left fds open: " + leaked);
    }


    /** This JVM's children, with their state letter from /proc (R, S, Z...). */
    public static Map<Long, String> children() {
        Map<Long, String> children = new TreeMap<>();
        ProcessHandle.current().children().forEach(p -> children.put(p.pid(), state(p.pid())));
        return children;
    }

    public static void assertNoChildren(String what) {
        Map<Long, String> children = children();
        if (!children.isEmpty()) fail(what + " left child processes (pid=state): " + children);
    }

    /** The state letter of process {@code pid} from /proc/pid/stat, or "gone". */
    public static String state(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        } catch (NoSuchFileException e) {
            return "gone";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** fd number -> link target, for every open fd of this JVM. */
    public static Map<Integer, String> openFds() {
        return OpenFds.snapshot();
    }
}
