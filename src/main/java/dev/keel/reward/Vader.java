package dev.keel.reward;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import dev.keel.KeelException;

/**
 * VADER sentiment intensity: a lexicon of 7,500 rated tokens plus rules for boosters, negation, capitals, "but"
 * and punctuation. Hutto &amp; Gilbert, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social
 * Media Text", ICWSM 2014.
 *
 * <p>A rule-for-rule port of {@code vaderSentiment/vaderSentiment.py} in {@code cjhutto/vaderSentiment} (commit
 * 0150f59, the 3.3.x rules: "no" as negator, lower-cased "but", {@code _strip_punc_if_word}). Each token's
 * valence s<sub>i</sub> is its lexicon rating, 0.733 larger in magnitude if the word is ALL CAPS while the text
 * is not, plus B = ±0.293 for each booster/dampener among the 3 words before it (×1, ×0.95, ×0.9 by distance),
 * ×N = −0.74 for each negator there, and the special cases of the reference; if the text has "but", every
 * s<sub>i</sub> before it is halved and every one after it ×1.5. With S = Σ s<sub>i</sub> pushed away from 0 by
 * 0.292 per '!' (at most 4) plus 0.18 per '?' for 2–3 of them or 0.96 for more:
 * <pre>compound = S / sqrt(S² + α), α = 15</pre>
 * and pos, neg and neu are the shares of Σ(s + 1) over the positive tokens, Σ|s − 1| over the negative ones and
 * the number of zero ones (the punctuation amount is added to the larger of the first two).
 *
 * <p>Deviations, all deliberate:
 * <ul>
 * <li>Emoji are not replaced by their descriptions (the reference's {@code emoji_utf8_lexicon.txt} step): the
 * texts scored here are plain English, and an emoji stays an unknown token of valence 0.</li>
 * <li>Scores are returned unrounded (the reference rounds to 3 and 4 decimals); {@link Scores#rounded()}
 * gives the reference's printed values.</li>
 * <li>The lexicon is the one shipped in npm {@code vader-sentiment@1.1.3}. It differs from the Python
 * repository's current one in three entries: it lacks "heart" (3.2), "hearts" (3.3) and "flawed" (−2.1), and
 * it rates "badass" −0.6 where the Python file has 1.4.</li>
 * </ul>
 * SENTIMENT_LADEN_IDIOMS ("cut the mustard", ...) are not applied, exactly as in the reference, which defines
 * them but never calls its check. The reference's quirks are kept: the "but" rule finds each value's first
 * equal entry (Python's {@code list.index}), and "kind of" lowers the next lexicon word by 0.293 even when it
 * is negative.
 */
public final class Vader {
    static final String LEXICON = "/dev/keel/reward/vader/vader_lexicon.txt";

    /** Mean rise in rated intensity from a booster ("very") or fall from a dampener ("kind of"). */
    static final double B_INCR = 0.293;
    static final double B_DECR = -0.293;
    /** Mean rise from writing a word in ALL CAPS when the rest of the text is not. */
    static final double C_INCR = 0.733;
    /** Scale of a negated valence. */
    static final double N_SCALAR = -0.74;
    /** Normalisation constant in S / sqrt(S² + α). */
    static final double ALPHA = 15;

    private static final Set<String> NEGATE = Set.of(
            "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt",
            "ain't", "aren't", "can't", "couldn't", "daren't", "didn't", "doesn't",
            "dont", "hadnt", "hasnt", "havent", "isnt", "mightnt", "mustnt", "neither",
            "don't", "hadn't", "hasn't", "haven't", "isn't", "mightn't", "mustn't",
            "neednt", "needn't", "never", "none", "nope", "nor", "not", "nothing", "nowhere",
            "oughtnt", "shant", "shouldnt", "uhuh", "wasnt", "werent",
            "oughtn't", "shan't", "shouldn't", "uh-uh", "wasn't", "weren't",
            "without", "wont", "wouldnt", "won't", "wouldn't", "rarely", "seldom", "despite");

    private static final Map<String, Double> BOOSTERS = boosters();

    /** Phrases whose valence replaces the word's own. */
    private static final Map<String, Double> SPECIAL_CASES = Map.of(
            "the shit", 3.0, "the bomb", 3.0, "bad ass", 1.5, "badass", 1.5, "bus stop", 0.0,
            "yeah right", -2.0, "kiss of death", -1.5, "to die for", 3.0,
            "beating heart", 3.1, "broken heart", -2.9);

    /** Python's {@code string.punctuation}. */
    private static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    private static Vader shared;

    private final Map<String, Double> lexicon;

    /**
     * Intensities: neg, neu and pos are proportions of the text (summing to 1 unless it has no token), compound
     * is the normalised sum in [−1, 1].
     */
    public record Scores(double neg, double neu, double pos, double compound) {
        /** As the reference prints them: proportions to 3 decimals, compound to 4 (Python's {@code round}). */
        public Scores rounded() {
            return new Scores(round(neg, 3), round(neu, 3), round(pos, 3), round(compound, 4));
        }

        private static double round(double x, int places) {
            return new BigDecimal(x).setScale(places, RoundingMode.HALF_EVEN).doubleValue();
        }
    }

    private Vader(Map<String, Double> lexicon) {
        this.lexicon = lexicon;
    }

    /** The scorer with the bundled lexicon, read from the classpath on the first call. */
    public static synchronized Vader load() {
        if (shared == null) {
            shared = new Vader(readLexicon());
        }
        return shared;
    }

    public Scores polarity(String text) {
        List<String> words = tokens(text);
        List<String> lower = new ArrayList<>(words.size());
        for (String w : words) {
            lower.add(w.toLowerCase(Locale.ROOT));
        }
        boolean capDiff = allCapDifferential(words);
        double[] sentiments = new double[words.size()];
        for (int i = 0; i < sentiments.length; i++) {
            String w = lower.get(i);
            boolean kindOf = i < sentiments.length - 1 && w.equals("kind") && lower.get(i + 1).equals("of");
            // boosters and "kind" of "kind of" only modify their neighbours
            sentiments[i] = BOOSTERS.containsKey(w) || kindOf ? 0 : valence(words, lower, capDiff, i);
        }
        butCheck(lower, sentiments);
        return scores(sentiments, text);
    }

    /** The valence of word i in context; 0 for a word outside the lexicon. */
    private double valence(List<String> words, List<String> lower, boolean capDiff, int i) {
        Double rated = lexicon.get(lower.get(i));
        if (rated == null) {
            return 0;
        }
        double v = rated;
        int n = lower.size();
        // "no" directly before a lexicon word negates it instead of counting on its own
        if (lower.get(i).equals("no") && i != n - 1 && lexicon.containsKey(lower.get(i + 1))) {
            v = 0.0;
        }
        if ((i > 0 && lower.get(i - 1).equals("no")) || (i > 1 && lower.get(i - 2).equals("no"))
                || (i > 2 && lower.get(i - 3).equals("no") && isOneOf(lower.get(i - 1), "or", "nor"))) {
            v = rated * N_SCALAR;
        }
        if (capDiff && isUpper(words.get(i))) {
            v += v > 0 ? C_INCR : -C_INCR;
        }
        for (int start = 0; start < 3; start++) {
            int j = i - (start + 1);
            if (i > start && !lexicon.containsKey(lower.get(j))) {
                double s = scalarIncDec(words.get(j), lower.get(j), v, capDiff);
                if (start == 1) {
                    s *= 0.95;
                } else if (start == 2) {
                    s *= 0.9;
                }
                v += s;
                v = negationCheck(v, lower, start, i);
                if (start == 2) {
                    v = specialIdiomsCheck(v, lower, i);
                }
            }
        }
        return leastCheck(v, lower, i);
    }

    /** The booster/dampener increment of a preceding word, signed with the valence it modifies. */
    private static double scalarIncDec(String word, String lower, double valence, boolean capDiff) {
        Double b = BOOSTERS.get(lower);
        if (b == null) {
            return 0;
        }
        double scalar = valence < 0 ? -b : b;
        if (capDiff && isUpper(word)) {
            scalar += valence > 0 ? C_INCR : -C_INCR;
        }
        return scalar;
    }

    /** Negation by the word {@code start + 1} places back, with "never so/this" and "without doubt". */
    private static double negationCheck(double v, List<String> w, int start, int i) {
        if (start == 0) {
            return negated(w.get(i - 1)) ? v * N_SCALAR : v;
        }
        if (start == 1) {
            if (w.get(i - 2).equals("never") && isOneOf(w.get(i - 1), "so", "this")) {
                return v * 1.25;
            }
            if (w.get(i - 2).equals("without") && w.get(i - 1).equals("doubt")) {
                return v;
            }
            return negated(w.get(i - 2)) ? v * N_SCALAR : v;
        }
        if ((w.get(i - 3).equals("never") && isOneOf(w.get(i - 2), "so", "this")) || isOneOf(w.get(i - 1), "so", "this")) {
            return v * 1.25;
        }
        if (w.get(i - 3).equals("without") && (w.get(i - 2).equals("doubt") || w.get(i - 1).equals("doubt"))) {
            return v;
        }
        return negated(w.get(i - 3)) ? v * N_SCALAR : v;
    }

    /** SPECIAL_CASES around word i (i ≥ 3), then the two-word dampeners "kind of", "sort of", "just enough". */
    private static double specialIdiomsCheck(double v, List<String> w, int i) {
        String oneZero = w.get(i - 1) + " " + w.get(i);
        String twoOneZero = w.get(i - 2) + " " + oneZero;
        String twoOne = w.get(i - 2) + " " + w.get(i - 1);
        String threeTwoOne = w.get(i - 3) + " " + twoOne;
        String threeTwo = w.get(i - 3) + " " + w.get(i - 2);
        for (String seq : List.of(oneZero, twoOneZero, twoOne, threeTwoOne, threeTwo)) {
            Double special = SPECIAL_CASES.get(seq);
            if (special != null) {
                v = special;
                break;
            }
        }
        if (w.size() - 1 > i) {
            v = SPECIAL_CASES.getOrDefault(w.get(i) + " " + w.get(i + 1), v);
        }
        if (w.size() - 1 > i + 1) {
            v = SPECIAL_CASES.getOrDefault(w.get(i) + " " + w.get(i + 1) + " " + w.get(i + 2), v);
        }
        for (String nGram : List.of(threeTwoOne, threeTwo, twoOne)) {
            Double b = BOOSTERS.get(nGram);
            if (b != null) {
                v += b;
            }
        }
        return v;
    }

    /** "least X" negates X, except in "at least" and "very least". */
    private double leastCheck(double v, List<String> w, int i) {
        if (i > 1 && !lexicon.containsKey(w.get(i - 1)) && w.get(i - 1).equals("least")) {
            if (!w.get(i - 2).equals("at") && !w.get(i - 2).equals("very")) {
                v *= N_SCALAR;
            }
        } else if (i > 0 && !lexicon.containsKey(w.get(i - 1)) && w.get(i - 1).equals("least")) {
            v *= N_SCALAR;
        }
        return v;
    }

    /**
     * Contrastive "but": valences before the first "but" ×0.5, after it ×1.5. Kept exactly as the reference
     * writes it, which updates the first entry equal to each value ({@code sentiments.index(sentiment)}), so
     * repeated values can be scaled at another position or twice.
     */
    static void butCheck(List<String> lower, double[] s) {
        int bi = lower.indexOf("but");
        if (bi < 0) {
            return;
        }
        for (int k = 0; k < s.length; k++) {
            double x = s[k];
            int si = 0;
            while (si < k && s[si] != x) {
                si++;
            }
            if (si < bi) {
                s[si] = x * 0.5;
            } else if (si > bi) {
                s[si] = x * 1.5;
            }
        }
    }

    private static Scores scores(double[] sentiments, String text) {
        if (sentiments.length == 0) {
            return new Scores(0, 0, 0, 0);
        }
        double sum = 0;
        for (double s : sentiments) {
            sum += s;
        }
        double punct = punctuationEmphasis(text);
        if (sum > 0) {
            sum += punct;
        } else if (sum < 0) {
            sum -= punct;
        }
        double compound = normalize(sum);
        double posSum = 0;
        double negSum = 0;
        int neutral = 0;
        for (double s : sentiments) {
            if (s > 0) {
                posSum += s + 1; // +1 so that a neutral word weighs 1 against them
            }
            if (s < 0) {
                negSum += s - 1;
            }
            if (s == 0) {
                neutral++;
            }
        }
        if (posSum > Math.abs(negSum)) {
            posSum += punct;
        } else if (posSum < Math.abs(negSum)) {
            negSum -= punct;
        }
        double total = posSum + Math.abs(negSum) + neutral;
        return new Scores(Math.abs(negSum / total), Math.abs(neutral / total), Math.abs(posSum / total), compound);
    }

    /** 0.292 per '!' (at most 4), plus 0.18 per '?' when there are 2 or 3 of them, 0.96 when there are more. */
    static double punctuationEmphasis(String text) {
        int exclamations = 0;
        int questions = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '!') {
                exclamations++;
            } else if (c == '?') {
                questions++;
            }
        }
        double ep = Math.min(exclamations, 4) * 0.292;
        double qm = questions <= 1 ? 0 : questions <= 3 ? questions * 0.18 : 0.96;
        return ep + qm;
    }

    /** x / sqrt(x² + α), α = 15, clamped to [−1, 1]. */
    static double normalize(double x) {
        double score = x / Math.sqrt(x * x + ALPHA);
        return Math.max(-1.0, Math.min(1.0, score));
    }

    /**
     * Python's {@code text.split()} (runs of Unicode white space), then each token stripped of leading and
     * trailing ASCII punctuation unless that leaves 2 characters or fewer, which keeps emoticons like ":)" and
     * short words with their punctuation ("ok!").
     */
    static List<String> tokens(String text) {
        List<String> out = new ArrayList<>();
        int i = 0;
        int n = text.length();
        while (i < n) {
            while (i < n && isPySpace(text.charAt(i))) {
                i++;
            }
            int start = i;
            while (i < n && !isPySpace(text.charAt(i))) {
                i++;
            }
            if (i > start) {
                out.add(stripPuncIfWord(text.substring(start, i)));
            }
        }
        return out;
    }

    static String stripPuncIfWord(String token) {
        int a = 0;
        int b = token.length();
        while (a < b && PUNCTUATION.indexOf(token.charAt(a)) >= 0) {
            a++;
        }
        while (b > a && PUNCTUATION.indexOf(token.charAt(b - 1)) >= 0) {
            b--;
        }
        return token.codePointCount(a, b) <= 2 ? token : token.substring(a, b);
    }

    /** Python's {@code str.isspace} for one UTF-16 unit (no white space lies outside the BMP). */
    private static boolean isPySpace(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }

    /** Python's {@code str.isupper}: at least one cased character and none lower- or title-case. */
    static boolean isUpper(String word) {
        boolean cased = false;
        for (int i = 0; i < word.length(); ) {
            int c = word.codePointAt(i);
            if (Character.isLowerCase(c) || Character.isTitleCase(c)) {
                return false;
            }
            cased |= Character.isUpperCase(c);
            i += Character.charCount(c);
        }
        return cased;
    }

    /** True when some but not all words are ALL CAPS: only then does capitalisation signal emphasis. */
    private static boolean allCapDifferential(List<String> words) {
        int caps = 0;
        for (String w : words) {
            if (isUpper(w)) {
                caps++;
            }
        }
        int differential = words.size() - caps;
        return differential > 0 && differential < words.size();
    }

    private static boolean negated(String lowerWord) {
        return NEGATE.contains(lowerWord) || lowerWord.contains("n't");
    }

    private static boolean isOneOf(String w, String a, String b) {
        return w.equals(a) || w.equals(b);
    }

    private static Map<String, Double> boosters() {
        Map<String, Double> m = new HashMap<>();
        for (String w : List.of("absolutely", "amazingly", "awfully", "completely", "considerable", "considerably",
                "decidedly", "deeply", "effing", "enormous", "enormously", "entirely", "especially", "exceptional",
                "exceptionally", "extreme", "extremely", "fabulously", "flipping", "flippin", "frackin", "fracking",
                "fricking", "frickin", "frigging", "friggin", "fully", "fuckin", "fucking", "fuggin", "fugging",
                "greatly", "hella", "highly", "hugely", "incredible", "incredibly", "intensely", "major", "majorly",
                "more", "most", "particularly", "purely", "quite", "really", "remarkably", "so", "substantially",
                "thoroughly", "total", "totally", "tremendous", "tremendously", "uber", "unbelievably", "unusually",
                "utter", "utterly", "very")) {
            m.put(w, B_INCR);
        }
        for (String w : List.of("almost", "barely", "hardly", "just enough", "kind of", "kinda", "kindof", "kind-of",
                "less", "little", "marginal", "marginally", "occasional", "occasionally", "partly", "scarce",
                "scarcely", "slight", "slightly", "somewhat", "sort of", "sorta", "sortof", "sort-of")) {
            m.put(w, B_DECR);
        }
        return Map.copyOf(m);
    }

    /** token TAB mean valence [TAB std TAB ratings]; a repeated token keeps its last value, as in the reference. */
    private static Map<String, Double> readLexicon() {
        InputStream in = Vader.class.getResourceAsStream(LEXICON);
        if (in == null) {
            throw new KeelException("the VADER lexicon " + LEXICON + " is missing from the classpath"
                    + " (it ships in src/main/resources; rebuild the jar)");
        }
        Map<String, Double> lex = new HashMap<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            int lineNo = 0;
            for (String line; (line = r.readLine()) != null; ) {
                lineNo++;
                if (line.isEmpty()) {
                    continue;
                }
                String[] f = line.strip().split("\t");
                try {
                    lex.put(f[0], Double.parseDouble(f[1]));
                } catch (ArrayIndexOutOfBoundsException | NumberFormatException e) {
                    throw new KeelException(LEXICON + " line " + lineNo + ": expected token<TAB>valence, got '"
                            + line + "'", e);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + LEXICON, e);
        }
        return Map.copyOf(lex);
    }
}
