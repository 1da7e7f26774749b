package dev.keel.eval;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.knowm.xchart.XYChart;

import dev.keel.KeelException;

/**
 * Writes {@code results.json} (every number of every seed), {@code runs.json} (the runs as the report reads them,
 * to draw it again) and {@code report.html}: a static page, readable
 * without a network, with the reward-against-KL frontier, the comparison of the two routes computed from the
 * intervals, a table of every method, the reward model's accuracy beside DPO's on the same held-out pairs,
 * training curves and samples side by side.
 */
public final class Report {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Report() {}

    public static void write(List<SentimentExperiment.Results> runs, Path dir, String command) {
        System.setProperty("java.awt.headless", "true");
        Summary summary = Summary.of(runs);
        try {
            Files.createDirectories(dir);
            RunsJson.write(new RunsJson.Saved(command, runs), dir);
            Files.write(dir.resolve("results.json"), JSON.writeValueAsBytes(ReportJson.of(runs, summary, command)));
            Files.writeString(dir.resolve("report.html"), html(runs, summary, command), StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("frontier.svg"), ReportCharts.svg(ReportCharts.frontier(summary, 900, 560)),
                    StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new KeelException("cannot write the report into " + dir + ": " + e.getMessage(), e);
        }
    }

    static String html(List<SentimentExperiment.Results> runs, Summary s, String command) throws IOException {
        SentimentExperiment.Results first = runs.get(0);
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Keel: PPO against DPO on controlled sentiment</title>")
                .append("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;font-size:14px}")
                .append("td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}")
                .append(".charts svg{margin:4px}.note{background:#f8f8f0;border-left:4px solid #cc9;padding:8px 12px}</style></head><body>");
        h.append("<h1>PPO against DPO on controlled sentiment</h1>");
        h.append("<p>A miniature of the DPO paper's controlled sentiment experiment (Rafailov et al. 2023, Sec. 6.1, Fig. 2), ")
                .append("run by Keel on its embedded 4.2M-parameter model on this machine's CPU. Prompts are 2-8 token prefixes of ")
                .append("held-out review sentences; the gold reward is VADER's compound score (Hutto &amp; Gilbert 2014) of the ")
                .append("completion; preference pairs were sampled from the SFT model and labelled by the gold reward, leaving out ")
                .append("pairs whose gold rewards differ by less than ").append(fmt(first.config().data().minGoldMargin()))
                .append(". Every policy is evaluated with one fresh sample (temperature 1) per held-out prompt, ")
                .append(first.config().training().evalPoints()).append(" times along each run.</p>");
        h.append("<p>Command: <code>").append(esc(command)).append("</code>. Seeds: ").append(runs.size())
                .append(". Held-out prompts: ").append(first.evalPromptTexts().size()).append(". Preference pairs per seed: ");
        runs.forEach(r -> h.append(r.pairs()).append(" (").append(r.ties()).append(" ties left out) "));
        h.append(". Total time: ").append(String.format(Locale.ROOT, "%.0f s",
                runs.stream().mapToDouble(SentimentExperiment.Results::totalSeconds).sum()))
                .append(" (").append(esc(dev.keel.runtime.Natives.summary())).append(").</p>");
        h.append("<h2>When does DPO win, and when does PPO win?</h2>").append(verdicts(s)).append(routes(s));
        h.append("<h2>Reward against KL</h2><div class=\"charts\">")
                .append(ReportCharts.svg(ReportCharts.frontier(s, 900, 560))).append("</div>");
        h.append("<p>Higher at the same KL is more efficient. Each point is one evaluation along a run (the last at its end)")
                .append(s.seeds() > 1 ? ", the mean over seeds with its 95% interval on both axes" : "")
                .append(". Best-of-N's KL is the analytic bound log N &minus; (N&minus;1)/N (Stiennon et al. 2020), an upper ")
                .append("bound on its true KL; every other KL is estimated from the samples as the mean of &Sigma;<sub>t</sub> ")
                .append("log &pi;(y<sub>t</sub>) &minus; log &pi;<sub>SFT</sub>(y<sub>t</sub>).</p>");
        h.append(methodTable(s, first)).append(budgets(runs, s));
        h.append(accuracyTable(runs, s));
        h.append("<h2>Training curves (seed ").append(first.config().seed()).append(")</h2><div class=\"charts\">");
        for (XYChart c : ReportCharts.curves(first)) {
            h.append(ReportCharts.svg(c));
        }
        h.append("</div>").append(samples(first));
        h.append(caveats(first.config()));
        h.append("</body></html>\n");
        return h.toString();
    }

    /** What the numbers hold for, and which of Xu et al.'s questions this run left out. */
    static String caveats(ExperimentConfig cfg) {
        ExperimentConfig.Methods m = cfg.methods();
        StringBuilder h = new StringBuilder("<h2>Caveats</h2><div class=\"note\"><p>A 4M-parameter model and a few ")
                .append("minutes of CPU per seed: the statements above hold for this size and budget only. PPO runs ")
                .append(m.ppoIterations()).append(" iterations of ").append(m.rlBatch()).append(" prompts with a frozen ")
                .append("reference, whitened advantages and a missing-EOS penalty of ").append(fmt(m.missingEosPenalty()))
                .append("; DPO's pairs come from the SFT model itself, so its data starts on-policy. Xu et al. 2024 (\"Is DPO ")
                .append("Superior to PPO for LLM Alignment?\", arXiv 2404.10719) find PPO ahead with advantage normalisation, ")
                .append("large batches and an EMA reference, and DPO hurt by preference data off the policy's distribution. ");
        List<String> left = new ArrayList<>();
        if (!m.xuAblation()) {
            left.add("PPO's three factors (--xu-ablation)");
        }
        if (!m.offPolicyDpo()) {
            left.add("DPO on pairs written by people (--off-policy-dpo)");
        }
        if (m.dpoIterRounds() == 0) {
            left.add("iterative DPO (--dpo-iter-rounds)");
        }
        if (!m.matchedBudget()) {
            left.add("PPO with DPO's sample budget (--ppo-matched-budget)");
        }
        h.append(left.isEmpty() ? "This run includes each of their questions; see the section above. "
                : "This run leaves out " + String.join(", ", left) + ". ");
        if (m.ppoGold()) {
            h.append("PPO against the gold reward is an upper reference, not a method one could use on real data. ");
        }
        return h.append("The learned reward model's errors bound what PPO and best-of-N against it can reach.</p></div>").toString();
    }

    /** Training compute of a method in one seed: forward tokens plus twice the backward tokens (a backward pass
     * costs about two forwards), sampling included. */
    static double compute(Cost.Spent c) {
        return c.forwardTokens() + 2.0 * c.backwardTokens();
    }

    /**
     * Which runs had compute comparable to DPO's (at its middle β): the budgets in words, computed from the
     * runs' own counts, so that no comparison in the report rests on unequal budgets unsaid.
     */
    static String budgets(List<SentimentExperiment.Results> runs, Summary s) {
        ExperimentConfig cfg = runs.get(0).config();
        ExperimentConfig.Methods m = cfg.methods();
        List<Double> betas = m.dpoBetas();
        if (betas.isEmpty()) {
            return "";
        }
        String refName = Family.DPO.label() + " \u03b2=" + betas.get(betas.size() / 2);
        int ref = -1;
        for (int i = 0; i < s.rows().size(); i++) {
            if (s.rows().get(i).name().equals(refName)) {
                ref = i;
            }
        }
        if (ref < 0) {
            return "";
        }
        int samples = cfg.data().pairPrompts() * cfg.data().samplesPerPrompt();
        StringBuilder h = new StringBuilder("<h3>Which runs had comparable compute</h3><p>")
                .append(esc(refName)).append(" learned from pairs built out of ").append(samples)
                .append(" completions sampled from the SFT model (").append(cfg.data().pairPrompts()).append(" prompts &times; ")
                .append(cfg.data().samplesPerPrompt()).append("); that sampling is shared with the reward model and is not in ")
                .append("either row's cost. PPO as run takes ").append(m.ppoIterations() * m.rlBatch())
                .append(" episodes (").append(m.ppoIterations()).append(" iterations &times; ").append(m.rlBatch())
                .append(" prompts)");
        if (m.matchedBudget()) {
            int its = (samples + m.rlBatch() - 1) / m.rlBatch();
            h.append("; the matched-budget PPO run takes ").append(its * m.rlBatch())
                    .append(" episodes, as many as DPO's sampled completions");
        }
        h.append(". Measured as training compute, forward tokens plus twice the backward tokens (sampling included, ")
                .append("evaluations left out), means over seeds, against ").append(esc(refName)).append(":</p><ul>");
        double base = meanCompute(runs, ref);
        double baseSeconds = s.rows().get(ref).seconds().mean();
        List<String> comparable = new ArrayList<>();
        List<String> more = new ArrayList<>();
        List<String> less = new ArrayList<>();
        for (int i = 0; i < s.rows().size(); i++) {
            Summary.Row r = s.rows().get(i);
            if (i == ref || r.family() == Family.SFT) {
                continue;
            }
            double ratio = meanCompute(runs, i) / base;
            String item = esc(r.name()) + String.format(Locale.ROOT, " (%.1f&times; the tokens, %.1f&times; the time)",
                    ratio, r.seconds().mean() / baseSeconds);
            (ratio > 2 ? more : ratio < 0.5 ? less : comparable).add(item);
        }
        h.append("<li><b>comparable</b> (within a factor of 2): ").append(comparable.isEmpty() ? "none" : String.join(", ", comparable))
                .append("</li><li><b>more than twice</b>: ").append(more.isEmpty() ? "none" : String.join(", ", more))
                .append("</li><li><b>less than half</b>: ").append(less.isEmpty() ? "none" : String.join(", ", less))
                .append("</li></ul><p>Only the comparable group ran at a cost near DPO's (within a factor of two); any ")
                .append("other comparison with DPO is at the unequal cost shown.</p>");
        return h.toString();
    }

    private static double meanCompute(List<SentimentExperiment.Results> runs, int method) {
        return runs.stream().mapToDouble(r -> compute(r.methods().get(method).cost())).average().orElse(Double.NaN);
    }

    /** The comparison per KL range, as the intervals decide it. */
    static String verdicts(Summary s) {
        StringBuilder h = new StringBuilder("<table><tr><th class=\"l\">KL range (nats)</th><th class=\"l\">outcome</th>")
                .append("<th class=\"l\">best DPO-family point</th><th>gold</th><th class=\"l\">best PPO point (learned reward)</th>")
                .append("<th>gold</th></tr>");
        for (Summary.Verdict v : s.verdicts()) {
            h.append("<tr><td class=\"l\">").append(fmt(v.klLow())).append(" &ndash; ")
                    .append(Double.isFinite(v.klHigh()) ? fmt(v.klHigh()) : "&infin;").append("</td><td class=\"l\"><b>")
                    .append(esc(v.outcome())).append("</b></td><td class=\"l\">").append(esc(v.dpoName()))
                    .append(v.bestDpo().map(p -> " at KL " + mean(p.kl())).orElse("")).append("</td><td>")
                    .append(v.bestDpo().map(p -> mean(p.gold())).orElse("")).append("</td><td class=\"l\">")
                    .append(esc(v.ppoName())).append(v.bestPpo().map(p -> " at KL " + mean(p.kl())).orElse(""))
                    .append("</td><td>").append(v.bestPpo().map(p -> mean(p.gold())).orElse("")).append("</td></tr>");
        }
        return h.append("</table><p>Within each KL range, each route's best evaluation point by mean gold reward; one route is ")
                .append("ahead only when its 95% interval over seeds lies wholly above the other's. The reward-free route is ")
                .append("DPO and IPO; the reward-based one is PPO against the reward model learned from the same pairs.</p>")
                .toString();
    }

    /**
     * The out-of-distribution question and PPO's factors side by side: DPO on pairs sampled from the SFT model,
     * on pairs written by people, and iterated on its own samples; PPO as run and with each of Xu et al.'s
     * factors changed.
     */
    static String routes(Summary s) {
        StringBuilder h = new StringBuilder();
        for (Summary.Row r : s.rows()) {
            if (r.family().xuQuestion()) {
                h.append("<tr><td class=\"l\">").append(esc(r.name())).append("</td><td>").append(mean(r.gold()))
                        .append("</td><td>").append(mean(r.kl())).append("</td><td>").append(mean(r.winRate()))
                        .append("</td></tr>");
            }
        }
        if (h.length() == 0) {
            return "";
        }
        return "<h3>The data DPO learns from, and the way PPO is run</h3><table><tr><th class=\"l\">run</th>"
                + "<th>gold reward</th><th>KL to SFT</th><th>win rate vs SFT</th></tr>" + h
                + "</table><p>DPO on pairs sampled from the SFT model (on-policy at the start), on as many pairs written by "
                + "people (off-policy: the out-of-distribution case of Xu et al. 2024), and iterated on its own samples "
                + "labelled by the learned reward (DPO-Iter); PPO as run, and, where present, without advantage "
                + "whitening, with 4x batches for the same episodes, and with an EMA reference. Compare runs at similar KL: "
                + "the frontier above shows where each lies.</p>";
    }

    private static String methodTable(Summary s, SentimentExperiment.Results first) {
        StringBuilder h = new StringBuilder("<h2>Every method</h2><table><tr><th class=\"l\">method</th><th>gold reward</th>")
                .append("<th>KL to SFT</th><th>win rate vs SFT</th><th>wall time (s)</th><th>peak RSS (MB)</th>")
                .append("<th>forward seqs</th><th>backward seqs</th><th>forward tokens</th></tr>");
        for (int i = 0; i < s.rows().size(); i++) {
            Summary.Row r = s.rows().get(i);
            Cost.Spent c = first.methods().get(i).cost();
            h.append("<tr><td class=\"l\">").append(esc(r.name())).append("</td><td>").append(mean(r.gold()))
                    .append("</td><td>").append(mean(r.kl())).append("</td><td>").append(mean(r.winRate()))
                    .append("</td><td>").append(String.format(Locale.ROOT, "%.1f", r.seconds().mean())).append("</td><td>")
                    .append(String.format(Locale.ROOT, "%.0f", c.peakRssMb())).append("</td><td>")
                    .append(c.forwardSequences()).append("</td><td>").append(c.backwardSequences())
                    .append("</td><td>").append(c.forwardTokens()).append("</td></tr>");
        }
        return h.append("</table><p>Means over seeds &plusmn; the half-width of the 95% interval. Costs cover training (for DPO ")
                .append("with the reference pass; for best-of-N, sampling N per prompt and scoring with the learned reward) and ")
                .append("leave out the evaluations along the way; passes and peak memory are the first seed's. The SFT row's win ")
                .append("rate is 0.5 by definition.</p>").toString();
    }

    private static String accuracyTable(List<SentimentExperiment.Results> runs, Summary s) {
        SentimentExperiment.Results first = runs.get(0);
        StringBuilder h = new StringBuilder("<h2>Learned preferences on the same held-out pairs</h2><table><tr>")
                .append("<th class=\"l\">model</th><th>accuracy</th><th class=\"l\">seed ").append(first.config().seed())
                .append(": 95% interval (Wilson)</th></tr>");
        Intervals.Proportion rm = first.rmHeldOutAccuracy();
        h.append("<tr><td class=\"l\">reward model</td><td>").append(mean(s.rmAccuracy())).append("</td><td class=\"l\">")
                .append(fmt(rm.low())).append(" &ndash; ").append(fmt(rm.high())).append(" (").append(rm.n())
                .append(" pairs)</td></tr>");
        for (int i = 0; i < s.rows().size(); i++) {
            Summary.Row r = s.rows().get(i);
            if (r.pairAccuracy().isPresent()) {
                Intervals.Proportion p = first.methods().get(i).heldOutPairAccuracy().orElseThrow();
                h.append("<tr><td class=\"l\">").append(esc(r.name())).append(" (implicit reward)</td><td>")
                        .append(mean(r.pairAccuracy().get())).append("</td><td class=\"l\">").append(fmt(p.low()))
                        .append(" &ndash; ").append(fmt(p.high())).append("</td></tr>");
            }
        }
        return h.append("</table><p>The fraction of the reward model's held-out pairs (never trained on) where the chosen ")
                .append("completion scores higher: by the reward model, and by each DPO policy's implicit reward ")
                .append("&beta;(log &pi; &minus; log &pi;<sub>SFT</sub>).</p>").toString();
    }

    private static String samples(SentimentExperiment.Results r) {
        StringBuilder h = new StringBuilder("<h2>Samples for the same prompts</h2><table><tr><th class=\"l\">prompt</th>");
        List<SentimentExperiment.MethodResult> shown = new ArrayList<>();
        for (SentimentExperiment.MethodResult m : r.methods()) {
            if (shown.stream().noneMatch(x -> x.family().equals(m.family()))) {
                shown.add(m);
                h.append("<th class=\"l\">").append(esc(m.name())).append("</th>");
            }
        }
        h.append("</tr>");
        for (int i = 0; i < Math.min(8, r.evalPromptTexts().size()); i++) {
            h.append("<tr><td class=\"l\"><b>").append(esc(r.evalPromptTexts().get(i))).append("</b></td>");
            for (SentimentExperiment.MethodResult m : shown) {
                h.append("<td class=\"l\">").append(esc(m.eval().samples().texts().get(i))).append(" <small>(")
                        .append(fmt(m.eval().samples().gold()[i])).append(")</small></td>");
            }
            h.append("</tr>");
        }
        return h.append("</table>").toString();
    }

    /** mean ± half-width, or the mean alone with one seed. */
    private static String mean(Intervals.Mean m) {
        return Double.isNaN(m.halfWidth()) ? fmt(m.mean()) : fmt(m.mean()) + " &plusmn; " + fmt(m.halfWidth());
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.3f", v);
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
