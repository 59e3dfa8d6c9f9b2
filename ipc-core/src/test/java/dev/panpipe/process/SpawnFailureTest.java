package dev.panpipe.process;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.io.LeakCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real files that posix_spawn (or the lookup before it) refuses: each failure is typed, names the program
 * and the errno, and says what was wrong with which file. Nothing is started, so nothing is left behind.
 */
@ExtendWith(LeakCheck.class)
@Timeout(30)
class SpawnFailureTest {
    @TempDir
    Path dir;

    private Path executable(String name, byte[] content) throws IOException {
        Path p = Files.write(dir.resolve(name), content);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
        return p;
    }

    private Path script(String name, String text) throws IOException {
        return executable(name, text.getBytes(StandardCharsets.UTF_8));
    }

    private static <T extends SpawnException> T refused(Class<T> type, String program) {
        T e = assertThrows(type, () -> Subprocess.builder(program).start());
        assertEquals(program, e.program());
        assertTrue(e.getMessage().startsWith("cannot start " + program + ": "), e.getMessage());
        return e;
    }

    private static void assertMentions(Throwable e, String... parts) {
        for (String part : parts) assertTrue(e.getMessage().contains(part), "no '" + part + "' in: " + e.getMessage());
    }

    private static int errnoOf(Throwable e) {
        return assertInstanceOf(SyscallException.class, e.getCause(), e.toString()).errno();
    }

    @Test
    void shouldSayThatAShellAssignmentOrNegationIsNoProgram() {
        // Command lines are split as a shell splits them, but no shell runs them: "LC_ALL=C sort" looked up
        // "LC_ALL=C" as a program and said only that it was not found.
        ProgramNotFoundException e = refused(ProgramNotFoundException.class, "LC_ALL=C");
        assertMentions(e, "program not found", "LC_ALL=C is not an assignment", "use env LC_ALL=C COMMAND");
        assertEquals(SpawnException.SHELL_NOT_FOUND, e.shellCode());
        assertMentions(refused(ProgramNotFoundException.class, "!"), "program not found", "! negates nothing");
        assertFalse(refused(ProgramNotFoundException.class, "no-such-program-panpipe").getMessage().contains("shell"),
                "no hint for a name that is no shell syntax");
    }

    @Test
    void shouldNameEnoexecAndSuggestAShebangLineForAFileInNoExecutableFormat() throws Exception {
        byte[] junk = new byte[512];
        new SplittableRandom(42).nextBytes(junk);
        junk[0] = 0;                                     // neither "#!" nor "\177ELF"
        Path noise = executable("noise", junk);
        Path noShebang = script("no-shebang", "echo a shell script without its first line\n");
        for (Path p : new Path[] {noise, noShebang}) {
            ProgramNotFoundException e = refused(ProgramNotFoundException.class, p.toString());
            assertMentions(e, "posix_spawn " + p + ": ENOEXEC", "not in an executable format", "#!/bin/sh");
            assertEquals(Errno.ENOEXEC, errnoOf(e));
            assertTrue(e.exists(), "it is there, it just cannot run");
            assertEquals(SpawnException.SHELL_CANNOT_EXECUTE, e.shellCode());
        }
    }

    @Test
    void shouldSayWhatMachineAnElfBinaryIsForWhenItCannotRunHere() throws Exception {
        byte[] elf = Files.readAllBytes(Path.of("/bin/true"));
        ByteBuffer header = ByteBuffer.wrap(elf).order(elf[5] == 2 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
        int here = Short.toUnsignedInt(header.getShort(18));
        header.putShort(18, (short) 0x7777);           // e_machine: no architecture at all
        Path foreign = executable("foreign", elf);
        ProgramNotFoundException e = refused(ProgramNotFoundException.class, foreign.toString());
        assertMentions(e, "ENOEXEC", "an ELF file this system does not run", "e_machine 30583", "this JVM's is ", "e_machine " + here);
        assertTrue(e.exists());
    }

    @Test
    void shouldNameEtxtbsyForAProgramThatIsOpenForWritingAndRunItOnceClosed() throws Exception {
        Path copy = dir.resolve("true-copy");
        byte[] bytes = Files.readAllBytes(Path.of("/bin/true"));
        try (FileChannel writing = FileChannel.open(copy, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            writing.write(ByteBuffer.wrap(bytes));
            Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwx------"));
            SpawnException e = refused(SpawnException.class, copy.toString());
            assertFalse(e instanceof ProgramNotFoundException, "it is there and may be run, just not now: " + e);
            assertMentions(e, "posix_spawn " + copy + ": ETXTBSY", copy + " is open for writing");
            assertEquals(Errno.ETXTBSY, errnoOf(e));
            assertEquals(SpawnException.SHELL_CANNOT_EXECUTE, e.shellCode(), "bash: 126");
        }
        try (Subprocess p = Subprocess.builder(copy.toString()).start()) {
            assertEquals(ExitStatus.exited(0), p.waitFor(), "closed, the same file runs");
        }
    }

    @Test
    void shouldRefuseAFileWithoutExecutePermissionAndADirectoryNamingEacces() throws Exception {
        Path plain = Files.writeString(dir.resolve("plain"), "#!/bin/sh\necho should not run\n");
        Files.setPosixFilePermissions(plain, PosixFilePermissions.fromString("rw-------"));
        ProgramNotFoundException file = refused(ProgramNotFoundException.class, plain.toString());
        assertMentions(file, plain + " is not executable", "EACCES");
        assertTrue(file.exists());
        assertEquals(126, file.shellCode());

        Path subdir = Files.createDirectory(dir.resolve("subdir"));
        ProgramNotFoundException directory = refused(ProgramNotFoundException.class, subdir.toString());
        assertMentions(directory, subdir + " is a directory", "EACCES");
        assertTrue(directory.exists());
        assertEquals(126, directory.shellCode());
    }

    /**
     * The program is fine; the child's chdir into the working directory is refused (no search permission). The
     * error must name the directory, not say that the program may not be executed. Run in a JVM of its own
     * ({@link WorkingDirectoryDeniedMain}): as root, without the capabilities that pass over permissions.
     */
    @Test
    @Timeout(120)
    void shouldBlameAWorkingDirectoryThatMayNotBeEnteredAndNotTheProgram() throws Exception {
        Path locked = Files.createDirectory(dir.resolve("locked"));
        Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("---------"));
        try {
            List<String> cmd = new ArrayList<>();
            if ("root".equals(Files.getOwner(Path.of("/proc/self")).getName())) {
                cmd.addAll(List.of("setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"));
            }
            cmd.addAll(JavaCommand.of(WorkingDirectoryDeniedMain.class,
                    List.of("--patch-module", "dev.panpipe.core=" + Path.of("target", "test-classes").toAbsolutePath()),
                    List.of(locked.toString())));
            Process child = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            String report;
            try (var out = child.getInputStream()) {
                report = new String(out.readAllBytes(), StandardCharsets.UTF_8).strip();
            } finally {
                child.getOutputStream().close();   // LeakCheck counts the JDK's pipes until closed
                child.getErrorStream().close();
            }
            assertEquals(0, child.waitFor(), report);
            assertTrue(report.startsWith("SpawnException: cannot start true: "), report);
            assertTrue(report.contains("working directory " + locked) && report.contains("EACCES"), report);
        } finally {
            Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("rwx------"));
        }
    }

    /**
     * A FIFO with execute permission, named by path: execve refuses it (EACCES), and the diagnosis must not open it
     * to read its first bytes, an open that waits for a writer that never comes.
     */
    @Test
    @Timeout(10)
    void shouldRefuseAFifoAsAProgramWithoutOpeningIt() throws Exception {
        Path fifo = dir.resolve("fifo");
        try (dev.panpipe.io.Fifo f = dev.panpipe.io.Fifo.create(fifo)) {
            Files.setPosixFilePermissions(fifo, PosixFilePermissions.fromString("rwx------"));
            ProgramNotFoundException e = refused(ProgramNotFoundException.class, fifo.toString());
            assertMentions(e, fifo.toString(), "EACCES");
            assertTrue(e.exists());
            assertEquals(126, e.shellCode());
        }
    }

    /** The script is fine; what execve refuses is its interpreter, so the message must say so. */
    @Test
    void shouldBlameTheInterpreterAScriptNamesWhenItMayNotBeExecuted() throws Exception {
        Path notExecutable = Files.writeString(dir.resolve("not-executable"), "echo\n");
        Files.setPosixFilePermissions(notExecutable, PosixFilePermissions.fromString("rw-------"));
        Path noFormat = script("no-format", "echo an interpreter that is no program\n");
        Path subdir = Files.createDirectory(dir.resolve("subdir"));

        Path viaPlainFile = script("via-plain-file", "#!" + notExecutable + "\necho\n");
        ProgramNotFoundException e = refused(ProgramNotFoundException.class, viaPlainFile.toString());
        assertMentions(e, "posix_spawn " + viaPlainFile + ": EACCES", "its #! interpreter " + notExecutable + " is not executable");
        assertEquals(Errno.EACCES, errnoOf(e));
        assertEquals(126, e.shellCode());

        Path viaDirectory = script("via-directory", "#! " + subdir + " -x\necho\n");
        e = refused(ProgramNotFoundException.class, viaDirectory.toString());
        assertMentions(e, "EACCES", "its #! interpreter " + subdir + " is a directory");

        Path viaNoFormat = script("via-no-format", "#!" + noFormat + "\necho\n");
        e = refused(ProgramNotFoundException.class, viaNoFormat.toString());
        assertMentions(e, "ENOEXEC", "its #! interpreter " + noFormat + " is not in an executable format");

        Path viaFileAsDirectory = script("via-file-as-directory", "#!" + noFormat + "/sh\necho\n");
        e = refused(ProgramNotFoundException.class, viaFileAsDirectory.toString());
        assertMentions(e, "ENOTDIR", "its #! interpreter " + noFormat + "/sh cannot be reached");
        assertEquals(126, e.shellCode());

        Path empty = script("empty-shebang", "#!   \necho\n");
        e = refused(ProgramNotFoundException.class, empty.toString());
        assertMentions(e, "ENOEXEC", "its #! line names no interpreter");
    }

    @Test
    void shouldBlameAMissingInterpreterAndNotTheScriptThatIsThere() throws Exception {
        Path script = script("bad-interpreter", "#!/no/such/interpreter -e\necho hi\n");
        ProgramNotFoundException e = refused(ProgramNotFoundException.class, script.toString());
        assertMentions(e, "posix_spawn " + script + ": ENOENT", script + " is there, but its #! interpreter /no/such/interpreter is not");
        assertFalse(e.getMessage().contains(script + " does not exist"), e.getMessage());
        assertEquals(Errno.ENOENT, errnoOf(e));
        assertFalse(e.exists(), "nothing to run, as bash says with 127");
        assertEquals(SpawnException.SHELL_NOT_FOUND, e.shellCode());

        // A script saved with DOS line endings looks for "/bin/sh\r".
        Path dos = script("dos", "#!/bin/sh\r\necho hi\r\n");
        e = refused(ProgramNotFoundException.class, dos.toString());
        assertMentions(e, "its #! interpreter '/bin/sh\\r' is not", "a DOS line ending");

        // Found through PATH, and with a relative interpreter, which is looked for from the child's directory.
        Path work = Files.createDirectory(dir.resolve("work"));
        script("relative", "#!bin/interp\necho\n");
        e = assertThrows(ProgramNotFoundException.class,
                () -> Subprocess.builder("relative").environment("PATH", dir.toString()).directory(work).start());
        assertEquals("relative", e.program());
        assertMentions(e, "cannot start relative: posix_spawn " + dir.resolve("relative") + ": ENOENT",
                "its #! interpreter " + work.resolve("bin/interp") + " is not");
    }

    /** A binary whose dynamic loader is missing fails with ENOENT, as a musl binary does on a glibc system. */
    @Test
    void shouldBlameAMissingDynamicLoaderAndNotTheBinaryThatIsThere() throws Exception {
        byte[] elf = Files.readAllBytes(Path.of("/bin/true"));
        int start = indexOfLoader(elf);
        int length = 0;
        while (elf[start + length] != 0) length++;
        String missing = ("/panpipe-no-such-loader" + "x".repeat(length)).substring(0, length);
        System.arraycopy(missing.getBytes(StandardCharsets.US_ASCII), 0, elf, start, length);
        Path binary = executable("loaderless", elf);

        ProgramNotFoundException e = refused(ProgramNotFoundException.class, binary.toString());
        assertMentions(e, "posix_spawn " + binary + ": ENOENT", binary + " is there, but the dynamic loader it names (its ELF interpreter) " + missing + " is not");
        assertFalse(e.exists());
        assertEquals(127, e.shellCode());
    }

    /** Where /bin/true keeps the path of its dynamic loader: the first string that names a file ld-*. */
    private static int indexOfLoader(byte[] elf) {
        String text = new String(elf, 0, Math.min(elf.length, 8192), StandardCharsets.ISO_8859_1);
        int ld = text.indexOf("/ld-");
        assertTrue(ld > 0, "/bin/true names no dynamic loader (a static binary?)");
        int start = text.lastIndexOf('\0', ld) + 1;
        assertEquals('/', text.charAt(start), text.substring(start, ld + 4));
        return start;
    }

    @Test
    void shouldReportAMissingDirectoryOnTheWayAsNotFoundAndAFileOnTheWayAsNotADirectory() throws Exception {
        Path missingDir = dir.resolve("missing");
        Path underMissing = missingDir.resolve("deeper/program");
        ProgramNotFoundException e = refused(ProgramNotFoundException.class, underMissing.toString());
        assertMentions(e, underMissing + " does not exist (there is no directory " + missingDir + ")");
        assertEquals(Errno.ENOENT, errnoOf(e));
        assertFalse(e.exists());
        assertEquals(127, e.shellCode());

        Path file = Files.writeString(dir.resolve("file"), "x");
        Path underFile = file.resolve("program");
        e = refused(ProgramNotFoundException.class, underFile.toString());
        assertMentions(e, "ENOTDIR", file + " is not a directory");
        assertEquals(Errno.ENOTDIR, errnoOf(e));
        assertEquals(126, e.shellCode(), "as bash, for whom only ENOENT is 127");

        // Relative to the child's directory, as execve after its chdir would look.
        e = assertThrows(ProgramNotFoundException.class, () -> Subprocess.builder("./missing/program").directory(dir).start());
        assertEquals("./missing/program", e.program());
        assertMentions(e, "cannot start ./missing/program: " + dir.resolve("missing/program") + " does not exist (there is no directory " + missingDir + ")");
    }
}
