package dev.panpipe.zerocopy;

import dev.panpipe.process.ExitStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A named block removes its name from /dev/shm only while the name still refers to that block: once a
 * survivor has unlinked it and another process has made a new block under the same name, neither the old
 * creator's close nor an unlink() of an old handle may remove the new block's name. And the ordinary paths
 * still remove the name, saying whether this call did.
 */
@ExtendWith(NoLeaks.class)
@Timeout(60)
class SharedMemoryNameReuseTest {

    /**
     * Failed before the identity check: the old creator's close removed the child's name (shm_unlink by name,
     * whatever file the name referred to by then).
     */
    @Test
    void shouldLeaveANameThatAnotherProcessReusedToThatProcess() throws Exception {
        String name = "reuse-" + ProcessHandle.current().pid();
        Path path = Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name);
        SharedMemory creator = SharedMemory.createNamed(name, 4096);
        try (SharedMemory survivor = SharedMemory.openNamed(name)) {
            creator.segment().set(ValueLayout.JAVA_LONG, 0, 0xAAAAL);
            assertTrue(survivor.unlink(), "the name was this block's: removed");   // as after a creator that seemed dead
            assertFalse(Files.exists(path));
            try (ChildJvm child = ChildJvm.start(NameReuseChildMain.class, new long[0], name)) {
                child.expect("created");
                assertTrue(Files.exists(path));

                assertFalse(survivor.unlink(), "an old handle's unlink must leave the child's new block alone");
                assertTrue(Files.exists(path), "an old handle's unlink removed the name of the child's new block");
                creator.close();
                assertTrue(Files.exists(path), "the old creator's close removed the name of the child's new block");
                assertFalse(creator.unlink(), "closed: nothing to remove");
                assertTrue(Files.exists(path));

                try (SharedMemory childs = SharedMemory.openNamed(name)) {
                    assertEquals(NameReuseChildMain.SIZE, childs.size());
                    assertEquals(NameReuseChildMain.MARK, childs.segment().get(ValueLayout.JAVA_LONG, NameReuseChildMain.MARK_AT));
                    assertEquals(child.pid(), childs.segment().get(ValueLayout.JAVA_LONG, NameReuseChildMain.PID_AT));
                    childs.segment().set(ValueLayout.JAVA_INT, NameReuseChildMain.RELEASE, 1);
                }
                assertEquals("NAME-GONE", child.readLine(), "the child's own close removes its name");
                assertEquals(ExitStatus.exited(0), child.process().waitFor());
            }
            assertFalse(Files.exists(path));
        } finally {
            creator.close();
            Files.deleteIfExists(path);   // only if an assertion above failed: the child was stopped holding it
        }
    }

    @Test
    void shouldRemoveItsOwnNameOnceWhenUnlinkedAndWhenClosed() throws Exception {
        String name = "own-" + ProcessHandle.current().pid();
        Path path = Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name);
        try (SharedMemory block = SharedMemory.createNamed(name, 4096)) {
            assertTrue(block.unlink(), "the first unlink removes the name");
            assertFalse(Files.exists(path));
            assertFalse(block.unlink(), "the second finds it gone");
            block.segment().set(ValueLayout.JAVA_LONG, 0, 42);   // the mapping outlives the name
            assertEquals(42, block.segment().get(ValueLayout.JAVA_LONG, 0));
        }   // its close finds the name gone: quiet
        try (SharedMemory block = SharedMemory.createNamed(name, 4096)) {
            assertTrue(Files.exists(path));
        }
        assertFalse(Files.exists(path), "the creator's close removes the name");
        SharedMemory closed = SharedMemory.createNamed(name, 4096);
        closed.close();
        assertFalse(closed.unlink(), "closed, and the name gone with it");
        try (SharedMemory anonymous = SharedMemory.create("anonymous", 4096)) {
            assertFalse(anonymous.unlink(), "an anonymous block has no name");
        }
    }

    @Test
    void shouldLetAJoinerRemoveTheNameWhileItsCreatorStillHoldsIt() throws Exception {
        String name = "joiner-" + ProcessHandle.current().pid();
        Path path = Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name);
        try (SharedMemory creator = SharedMemory.createNamed(name, 4096)) {
            try (SharedMemory joiner = SharedMemory.openNamed(name)) {
                assertTrue(joiner.unlink(), "opened by this name, the joiner's identity is the creator's file");
                assertFalse(Files.exists(path));
                creator.segment().set(ValueLayout.JAVA_INT, 8, 7);
                assertEquals(7, joiner.segment().get(ValueLayout.JAVA_INT, 8), "both still map the same pages");
            }
            assertFalse(creator.unlink(), "the joiner removed it already");
        }
        assertFalse(Files.exists(path));
    }

    /** Something else in the name's place (here a symbolic link to the block's own file) is not this block's name. */
    @Test
    void shouldLeaveASymbolicLinkInTheNamesPlaceAlone() throws Exception {
        String name = "linked-" + ProcessHandle.current().pid();
        Path path = Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name);
        Path moved = Path.of("/dev/shm", SharedMemory.NAME_PREFIX + name + ".moved");
        try (SharedMemory block = SharedMemory.createNamed(name, 4096)) {
            Files.move(path, moved);
            Files.createSymbolicLink(path, moved);
            try {
                assertFalse(block.unlink(), "the link is a file of its own (O_NOFOLLOW): not this block's name");
                assertTrue(Files.isSymbolicLink(path));
            } finally {
                Files.delete(path);
                Files.delete(moved);
            }
        }
    }
}
