package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.process.ProgramNotFoundException;
import dev.panpipe.process.SpawnException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Says why {@code posix_spawn} refused a program that {@link LinuxSpawner#resolve} had just found: an
 * existing, executable regular file. The errno alone misleads there. ENOENT for a file that is there means
 * that what execve loads on its behalf is missing: the {@code #!} interpreter of a script, or the dynamic
 * loader named in an ELF binary. EACCES, ENOTDIR and ELOOP likewise concern the interpreter, and ENOEXEC a
 * file that is neither ELF nor starts with {@code #!} (glibc's posix_spawn does not fall back to
 * {@code /bin/sh} as execvp does). So the file's first bytes are read, as the kernel reads them, and the
 * message names what was wrong, after the call and its errno.
 */
final class SpawnDiagnosis {
    /** The kernel reads this much of a file to pick its binary format, #! line included (BINPRM_BUF_SIZE). */
    private static final int BINPRM_BUF_SIZE = 256;
    private static final int PT_INTERP = 3;
    /** An interpreter path longer than PATH_MAX is not one. */
    private static final int PATH_MAX = 4096;

    private SpawnDiagnosis() {
    }

    /**
     * The exception for posix_spawn's {@code error}. The types are as for the checks made before the spawn:
     * a {@link ProgramNotFoundException} when nothing runnable is there (ENOENT: bash's 127) or what is there
     * may not be executed (EACCES, ENOEXEC, ENOTDIR, ELOOP: 126), a plain {@link SpawnException} for any
     * other errno (ETXTBSY, EAGAIN, ENOMEM...). The cause is the {@link SyscallException} with the errno.
     *
     * @param executable the absolute path posix_spawn was given
     * @param childDirectory the directory the child starts in: a relative #! interpreter is found from there
     */
    static SpawnException of(String program, Path executable, Path childDirectory, int error) {
        SyscallException cause = SyscallException.of("posix_spawn", executable.toString(), error);
        String head = "cannot start " + program + ": " + cause.getMessage();
        String why = explain(executable, childDirectory, error);
        String message = why == null ? head : head + ": " + why;
        if (error == Errno.ENOENT) return new ProgramNotFoundException(program, message, cause, false);
        if (error == Errno.EACCES || error == Errno.ENOEXEC || error == Errno.ENOTDIR || error == Errno.ELOOP) {
            return new ProgramNotFoundException(program, message, cause, true);
        }
        return new SpawnException(program, message, cause);
    }

    /**
     * The exception for posix_spawn's {@code error} when what failed was the child's chdir into {@code directory}
     * (checked to be a directory before the spawn), or null if the directory can be entered, so that the error
     * concerns the program ({@link #of}). One errno reports every step of the spawn: an EACCES or ENOENT from the
     * chdir would otherwise be told as the program's, which may not be executed or is not there.
     */
    static SpawnException ofDirectory(String program, Path directory, int error) {
        if (error != Errno.EACCES && error != Errno.ENOENT && error != Errno.ENOTDIR && error != Errno.ELOOP) return null;
        String why;
        if (!Files.isDirectory(directory)) why = "working directory " + directory + " is no directory (any more)";
        else if (!Files.isExecutable(directory)) {
            why = "working directory " + directory + " may not be entered (no search permission on it or on a directory on the way)";
        } else return null;
        SyscallException cause = SyscallException.of("posix_spawn", "chdir " + directory, error);
        return new SpawnException(program, "cannot start " + program + ": " + cause.getMessage() + ": " + why, cause);
    }

    /**
     * The exception for posix_spawn's EPERM when the child was to join process group {@code group}. The errno
     * does not say which step of the spawn failed: glibc's child calls setpgid first, whose EPERM means a
     * group that is not in this session (none of that number, or another session's), but a later step may
     * fail with EPERM too, execve above all (a security module or seccomp filter refusing it, file capabilities
     * the process cannot be given). So the group is looked up in /proc, and the message says which it was where
     * that tells: no such group, or another session's, is setpgid's refusal; a group of this session, which
     * setpgid would have joined, leaves the EPERM to another step.
     */
    static SpawnException ofGroupJoin(String program, Path executable, int group, int error) {
        SyscallException cause = SyscallException.of("posix_spawn", executable.toString(), error);
        String head = "cannot start " + program + ": " + cause.getMessage() + ": ";
        String why;
        try {
            List<ProcessGroups.Member> members = ProcessGroups.members(group);
            int ours = ProcessGroups.ownSession();
            if (members.isEmpty()) {
                // Looked up after the spawn, so a group that ended during it reads the same: say when it was looked for.
                why = "cannot join process group " + group + ": there is no such group (looked up after the spawn;"
                        + " setpgid refuses a group that does not exist)";
            } else if (members.stream().noneMatch(m -> m.session() == ours)) {
                why = "cannot join process group " + group + ": it is in another session (" + members.getFirst().session()
                        + "; this process's is " + ours + "), and setpgid joins only a group of its own session";
            } else {
                why = "process group " + group + " is in this session, so setpgid could join it: the EPERM came from a"
                        + " later step of the spawn, most likely execve refusing " + executable
                        + " (a security module, a seccomp filter, file capabilities it cannot be given)";
            }
        } catch (IOException | RuntimeException e) {
            why = "cannot join process group " + group + ", or another step of the spawn (execve) was refused;"
                    + " /proc could not tell which: " + e.getMessage();
        }
        return new SpawnException(program, head + why, cause);
    }

    /** What {@code error} means for this file, or null if there is nothing to add to the errno's text. */
    private static String explain(Path executable, Path childDirectory, int error) {
        byte[] start = readStart(executable);
        if (start == null) {
            // Unreadable now: gone since it was found (ENOENT), or not readable (an execute-only binary).
            return error == Errno.ENOENT && !Files.exists(executable, LinkOption.NOFOLLOW_LINKS)
                    ? executable + " was removed before it could start" : null;
        }
        Shebang shebang = Shebang.parse(start);
        if (shebang != null) return explainScript(executable, childDirectory, shebang, error);
        boolean elf = start.length >= 4 && start[0] == 0x7f && start[1] == 'E' && start[2] == 'L' && start[3] == 'F';
        if (error == Errno.ENOEXEC) {
            return elf ? explainForeignElf(executable)
                    : "not in an executable format: neither an ELF binary nor a script that starts with a #! line;"
                    + " if it is a script, give it a first line such as #!/bin/sh (posix_spawn does not fall back"
                    + " to /bin/sh as execvp does)";
        }
        if (error == Errno.ETXTBSY) {
            return executable + " is open for writing (by this process or another): it can be run once that is closed";
        }
        if (error == Errno.ENOENT && elf) {
            String loader = elfInterpreter(executable);
            if (loader != null && !Files.exists(Path.of(loader))) {
                return executable + " is there, but the dynamic loader it names (its ELF interpreter) " + loader
                        + " is not: a binary built for another system (a musl or glibc one, another distribution)?";
            }
        }
        return null;
    }

    /** The errno concerns the script's #! line or interpreter: the script itself was found and is executable. */
    private static String explainScript(Path script, Path childDirectory, Shebang shebang, int error) {
        String interpreter = shebang.interpreter();
        if (error == Errno.ENOEXEC && interpreter.isEmpty()) return "its #! line names no interpreter";
        if (error == Errno.ENOEXEC && shebang.cut()) return "its #! line is longer than the " + BINPRM_BUF_SIZE + " bytes the kernel reads";
        Path interp = childDirectory.resolve(interpreter);
        String named = "its #! interpreter " + show(interp.toString());
        String lineEnding = interpreter.endsWith("\r") ? " (the #! line ends in \\r: a DOS line ending)" : "";
        if (error == Errno.ENOENT) return script + " is there, but " + named + " is not" + lineEnding;
        if (error == Errno.EACCES) {
            if (Files.isDirectory(interp)) return named + " is a directory";
            if (!Files.isExecutable(interp)) return named + " is not executable";
            return named + " may not be executed (on a noexec mount?)";
        }
        if (error == Errno.ENOEXEC) return named + " is not in an executable format either";
        if (error == Errno.ENOTDIR) return named + " cannot be reached: a component of its path is not a directory";
        if (error == Errno.ELOOP) return named + ": too many symbolic links, or #! interpreters nested too deep";
        if (error == Errno.ETXTBSY) {
            return script + " or " + named + " is open for writing (by this process or another): it can be run once that is closed";
        }
        return null;
    }

    /** An ELF file execve refused: say what it was built for, beside what this JVM was. */
    private static String explainForeignElf(Path executable) {
        String it = elfKind(executable), here = elfKind(Path.of("/proc/self/exe"));
        return "an ELF file this system does not run" + (it == null ? "" : ": " + it + (here == null ? "" : "; this JVM's is " + here));
    }

    /** "64-bit, little-endian, e_machine 62, e_type 2 (executable)", or null if the header cannot be read. */
    private static String elfKind(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer h = ByteBuffer.allocate(20);
            if (ch.read(h, 0) < 20) return null;
            boolean wide = h.get(4) == 2;
            h.order(h.get(5) == 2 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
            int type = Short.toUnsignedInt(h.getShort(16));
            String typeName = switch (type) {
                case 1 -> " (relocatable object)";
                case 2 -> " (executable)";
                case 3 -> " (shared object or position-independent executable)";
                case 4 -> " (core dump)";
                default -> "";
            };
            return (wide ? "64-bit, " : "32-bit, ") + (h.order() == ByteOrder.BIG_ENDIAN ? "big-endian" : "little-endian")
                    + ", e_machine " + Short.toUnsignedInt(h.getShort(18)) + ", e_type " + type + typeName;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The path in an ELF file's PT_INTERP program header (its dynamic loader), or null if it has none. */
    private static String elfInterpreter(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer h = ByteBuffer.allocate(64);
            if (ch.read(h, 0) < 52) return null;
            boolean wide = h.get(4) == 2;
            h.order(h.get(5) == 2 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
            long phoff = wide ? h.getLong(0x20) : Integer.toUnsignedLong(h.getInt(0x1c));
            int phentsize = Short.toUnsignedInt(h.getShort(wide ? 0x36 : 0x2a));
            int phnum = Short.toUnsignedInt(h.getShort(wide ? 0x38 : 0x2c));
            if (phentsize < (wide ? 56 : 32)) return null;
            ByteBuffer ph = ByteBuffer.allocate(phentsize).order(h.order());
            for (int i = 0; i < phnum; i++) {
                ph.clear();
                if (ch.read(ph, phoff + (long) i * phentsize) < phentsize) return null;
                if (ph.getInt(0) != PT_INTERP) continue;
                long offset = wide ? ph.getLong(8) : Integer.toUnsignedLong(ph.getInt(4));
                long size = wide ? ph.getLong(0x20) : Integer.toUnsignedLong(ph.getInt(16));
                if (size <= 1 || size > PATH_MAX) return null;
                ByteBuffer path = ByteBuffer.allocate((int) size);
                if (ch.read(path, offset) < size) return null;
                String s = new String(path.array(), StandardCharsets.UTF_8);
                int nul = s.indexOf('\0');
                return nul < 0 ? s : s.substring(0, nul);
            }
            return null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Up to {@link #BINPRM_BUF_SIZE} bytes from the start of the file, or null if it cannot be read. */
    private static byte[] readStart(Path file) {
        // Only a regular file: one replaced by a FIFO since it was checked would hold the open until a writer came.
        if (!Files.isRegularFile(file)) return null;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate(BINPRM_BUF_SIZE);
            while (buf.hasRemaining() && ch.read(buf) > 0) {
                // a short read of a regular file is rare; read on to the buffer's end or the file's
            }
            byte[] bytes = new byte[buf.position()];
            buf.flip().get(bytes);
            return bytes;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * A {@code #!} line as Linux's binfmt_script reads it: the line ends at a newline or at the end of the
     * bytes read; spaces and tabs before the name are skipped, and the name ends at a space, tab or NUL. A
     * carriage return is part of the name (so "#!/bin/sh\r" looks for "/bin/sh\r").
     *
     * @param interpreter the name, empty if the line names nothing
     * @param cut the name runs on past the bytes the kernel reads (ENOEXEC)
     */
    record Shebang(String interpreter, boolean cut) {
        /** The file's #! line, or null if it does not start with #!. */
        static Shebang parse(byte[] start) {
            if (start.length < 2 || start[0] != '#' || start[1] != '!') return null;
            int end = 2;
            while (end < start.length && start[end] != '\n') end++;
            int i = 2;
            while (i < end && (start[i] == ' ' || start[i] == '\t')) i++;
            int nameEnd = i;
            while (nameEnd < end && start[nameEnd] != ' ' && start[nameEnd] != '\t' && start[nameEnd] != 0) nameEnd++;
            boolean cut = end == start.length && nameEnd == end && start.length >= BINPRM_BUF_SIZE;
            return new Shebang(new String(start, i, nameEnd - i, StandardCharsets.UTF_8), cut);
        }
    }

    /** A path as it is, with control characters made visible: "/bin/sh\r" shows as {@code '/bin/sh\r'}. */
    private static String show(String path) {
        StringBuilder b = new StringBuilder();
        boolean escaped = false;
        for (char c : path.toCharArray()) {
            if (c == '\r') { b.append("\\r"); escaped = true; }
            else if (c < 0x20 || c == 0x7f) { b.append(String.format("\\x%02x", (int) c)); escaped = true; }
            else b.append(c);
        }
        return escaped ? "'" + b + "'" : b.toString();
    }
}
