package dev.panpipe.zerocopy.kernel;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fails a test that leaves a child process of this JVM behind (running or zombie): the part of ipc-core's
 * LeakCheck these tests need; ipc-core's test classes are not visible from this module.
 */
public final class NoChildrenLeft implements AfterEachCallback {
    @Override
    public void afterEach(ExtensionContext context) {
        List<Long> children = ProcessHandle.current().children().map(ProcessHandle::pid).toList();
        if (!children.isEmpty()) fail(context.getDisplayName() + " left child processes: " + children);
    }
}
