package dev.panpipe.zerocopy;

import dev.panpipe.testing.OpenFds;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fails a test that leaves a child process (running or zombie) or an fd that was not open before it,
 * shared memory ({@code /memfd:panpipe:...}) included. ipc-core's LeakCheck does the same there (a JUnit
 * extension of its own, outside the test jar); both compare {@link OpenFds} snapshots.
 */
public final class NoLeaks implements BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(NoLeaks.class);

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NS).put("fds", openFds());
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
        return OpenFds.snapshot();
    }

    /** Fails if an fd is open now that was not in {@code before}, files the JVM opens lazily aside. */
    public static void assertNoFdLeftSince(Map<Integer, String> before, String what) {
        List<String> leaked = OpenFds.openedSince(before);
        if (!leaked.isEmpty()) fail(what + " left fds open: " + leaked);
    }
}
