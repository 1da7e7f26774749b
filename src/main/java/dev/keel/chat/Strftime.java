package dev.keel.chat;

import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.time.temporal.ChronoField;
import java.time.temporal.IsoFields;
import java.util.Locale;

/**
 * Python's {@code datetime.now().strftime(fmt)} as glibc formats it in the C locale, for the templates'
 * {@code strftime_now} (Llama 3.1 writes {@code strftime_now("%d %b %Y")} into its system prompt). The time
 * is naive, as {@code datetime.now()} is, so {@code %z} and {@code %Z} print nothing. Supports glibc's
 * {@code -} flag ({@code %-d} is "5", not "05"); an unknown directive is copied as written.
 */
final class Strftime {
    private Strftime() {}

    static String format(LocalDateTime t, String fmt) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%' || i + 1 >= fmt.length()) {
                out.append(c);
                continue;
            }
            int start = i;
            boolean noPad = fmt.charAt(i + 1) == '-' && i + 2 < fmt.length();
            if (noPad) {
                i++;
            }
            char d = fmt.charAt(++i);
            String s = directive(t, d, noPad);
            out.append(s != null ? s : fmt.substring(start, i + 1));
        }
        return out.toString();
    }

    private static String directive(LocalDateTime t, char d, boolean noPad) {
        return switch (d) {
            case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.US);
            case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.US);
            case 'b', 'h' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.US);
            case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.US);
            case 'd' -> pad(t.getDayOfMonth(), 2, noPad);
            case 'e' -> noPad ? Integer.toString(t.getDayOfMonth()) : String.format("%2d", t.getDayOfMonth());
            case 'm' -> pad(t.getMonthValue(), 2, noPad);
            case 'y' -> pad(t.getYear() % 100, 2, noPad);
            case 'Y' -> Integer.toString(t.getYear());
            case 'H' -> pad(t.getHour(), 2, noPad);
            case 'I' -> pad(t.getHour() % 12 == 0 ? 12 : t.getHour() % 12, 2, noPad);
            case 'M' -> pad(t.getMinute(), 2, noPad);
            case 'S' -> pad(t.getSecond(), 2, noPad);
            case 'f' -> String.format("%06d", t.get(ChronoField.MICRO_OF_SECOND));
            case 'p' -> t.getHour() < 12 ? "AM" : "PM";
            case 'j' -> pad(t.getDayOfYear(), 3, noPad);
            case 'u' -> Integer.toString(t.getDayOfWeek().getValue());
            case 'w' -> Integer.toString(t.getDayOfWeek().getValue() % 7);
            case 'V' -> pad(t.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR), 2, noPad);
            case 'G' -> Integer.toString(t.get(IsoFields.WEEK_BASED_YEAR));
            case 'F' -> format(t, "%Y-%m-%d");
            case 'D', 'x' -> format(t, "%m/%d/%y");
            case 'T', 'X' -> format(t, "%H:%M:%S");
            case 'R' -> format(t, "%H:%M");
            case 'c' -> format(t, "%a %b %e %H:%M:%S %Y");
            case 'z', 'Z' -> ""; // naive datetime: no zone
            case 'n' -> "\n";
            case 't' -> "\t";
            case '%' -> "%";
            default -> null;
        };
    }

    private static String pad(int v, int width, boolean noPad) {
        return noPad ? Integer.toString(v) : String.format("%0" + width + "d", v);
    }
}
