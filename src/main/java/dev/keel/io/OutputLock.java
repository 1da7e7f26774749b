package dev.keel.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import dev.keel.KeelException;

/**
 * The lock a run holds on its output folder: {@code .keel.lock} inside it, holding the pid, locked through the
 * operating system ({@code fcntl}) so that a second run on the same folder fails at once with a message naming the
 * first. The operating system drops the lock when its process dies, however it dies, so a lock left by a killed
 * run is simply taken over. Held until {@link #releaseAll} (the CLI calls it when a command ends).
 */
public final class OutputLock {
    public static final String FILE = ".keel.lock";
    private static final List<OutputLock> HELD = new ArrayList<>();

    private final FileChannel channel;
    private final FileLock lock;

    private OutputLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Locks {@code dir} (which exists) for this process, or fails naming the process that holds it. */
    public static synchronized void acquire(Path dir) {
        Path file = dir.resolve(FILE);
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new KeelException(file + ": cannot create the output folder's lock: " + e.getMessage(), e);
        }
        FileLock lock;
        try {
            lock = ch.tryLock();
            if (lock == null) {
                long other = pid(ch);
                close(ch);
                throw inUse(dir, other, file);
            }
        } catch (OverlappingFileLockException e) {
            close(ch);
            throw new KeelException(dir + " is in use by another run in this process; choose another --out");
        } catch (IOException e) {
            // a file system without locks: fall back to the pid written in the file
            lock = null;
            long other = pid(ch);
            if (other > 0 && other != ProcessHandle.current().pid()
                    && ProcessHandle.of(other).map(ProcessHandle::isAlive).orElse(false)) {
                close(ch);
                throw inUse(dir, other, file);
            }
        }
        try {
            ch.truncate(0);
            ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
            ch.force(false);
        } catch (IOException e) {
            close(ch);
            throw new KeelException(file + ": cannot write the output folder's lock: " + e.getMessage(), e);
        }
        HELD.add(new OutputLock(ch, lock));
    }

    private static KeelException inUse(Path dir, long pid, Path file) {
        return new KeelException(dir + " is in use by another keel process (pid " + (pid > 0 ? pid : "unknown")
                + ", lock " + file + "); wait for it to finish, stop it, or choose another --out");
    }

    /** The pid written in the lock file, or -1. */
    private static long pid(FileChannel ch) {
        try {
            ByteBuffer b = ByteBuffer.allocate(32);
            ch.read(b, 0);
            return Long.parseLong(new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    /** Releases every lock this process holds (the lock files stay, unlocked; the next run takes them over). */
    public static synchronized void releaseAll() {
        for (OutputLock l : HELD) {
            try {
                if (l.lock != null) {
                    l.lock.release();
                }
            } catch (IOException ignored) {
                // closing the channel releases it too
            }
            close(l.channel);
        }
        HELD.clear();
    }

    private static void close(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing left to do
        }
    }
}
