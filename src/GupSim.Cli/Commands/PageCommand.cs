using System.CommandLine;
using System.Globalization;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;
using GupSim.Reports;

namespace GupSim.Cli.Commands;

/// <summary>`gupsim page ADDR` and `gupsim pfn PFN`: what lives there, as crash's `kmem -p` shows a struct page.</summary>
public static class PageCommand
{
    public static Command CreatePage()
    {
        var machine = new MachineOptionSet();
        var json = CommonOptions.CreateJsonOption();
        var addr = new Argument<string>("addr") { Description = "A kernel virtual address (hex, with or without 0x)" };
        var cmd = new Command("page", "Resolve a kernel virtual address: which struct page (if any) lives there, and its contents.");
        machine.AddTo(cmd);
        cmd.Arguments.Add(addr);
        cmd.Options.Add(json);
        cmd.SetAction(pr =>
        {
            string a = pr.GetValue(addr)!.Trim();
            if (a.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) a = a[2..];
            if (!ulong.TryParse(a, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong va))
                throw new GupSimException($"'{pr.GetValue(addr)}' is not a hex address");
            var opts = machine.Read(pr);
            var m = opts.Boot();
            foreach (var w in opts.Warnings) Program.Warn(pr.InvocationConfiguration.Error, w);
            Print(pr, m, va, null, pr.GetValue(json));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    public static Command CreatePfn()
    {
        var machine = new MachineOptionSet();
        var json = CommonOptions.CreateJsonOption();
        var pfnArg = new Argument<string>("pfn") { Description = "A page frame number (decimal or 0x hex)" };
        var cmd = new Command("pfn", "Resolve a pfn with pfn_to_page() and show its struct page.");
        machine.AddTo(cmd);
        cmd.Arguments.Add(pfnArg);
        cmd.Options.Add(json);
        cmd.SetAction(pr =>
        {
            ulong pfn = Numbers.ParseUInt64(pr.GetValue(pfnArg)!, "pfn");
            var opts = machine.Read(pr);
            var m = opts.Boot();
            foreach (var w in opts.Warnings) Program.Warn(pr.InvocationConfiguration.Error, w);
            if (!m.MemMap.PfnValid(Pfn.FromUInt64(pfn)))
                Program.Warn(pr.InvocationConfiguration.Error, $"pfn_valid(0x{pfn:x}) is false on this machine");
            var page = m.PfnToPage(Pfn.FromUInt64(pfn));
            Print(pr, m, page.Address, pfn, pr.GetValue(json));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static void Print(ParseResult pr, Machine m, ulong va, ulong? askedPfn, bool json)
    {
        var o = pr.InvocationConfiguration.Output;
        var info = m.Describe(va);
        var sp = m.StructPages;
        var page = PagePtr.FromAddress(va - (ulong)info.OffsetInPage);
        if (json)
        {
            var obj = new
            {
                addr = LayoutReport.Hex(va),
                kind = PageWalk.KindName(info.Kind),
                pfn = info.Pfn,
                offsetInPage = info.OffsetInPage,
                region = info.Region,
                physical = info.Pfn is ulong p ? LayoutReport.Hex(p << m.Arch.PageShift) : null,
                refcount = info.Pfn is not null ? sp.Refcount(page) : (int?)null,
                mapcount = info.Pfn is not null ? sp.MapcountRaw(page) : (int?)null,
                flags = info.Pfn is not null ? LayoutReport.Hex(sp.Flags(page)) : null,
                flagNames = info.Pfn is not null ? sp.FlagNames(sp.Flags(page)) : null,
                askedPfn,
            };
            o.WriteLine(Json.Serialize(obj));
            return;
        }
        o.WriteLine($"address   {LayoutReport.Hex(va)}: {KindText(info)}");
        o.WriteLine($"region    {info.Region}");
        if (askedPfn is ulong ap && info.Pfn is ulong got && got != ap)
            o.WriteLine($"note      pfn_to_page(0x{ap:x}) reached the struct page of pfn 0x{got:x}");
        if (info.Pfn is null) return;
        // crash's `kmem -p` line for the struct page, then dump_page() as the version prints it.
        Debug.CrashKmem.KmemP(m, page.Address, o);
        foreach (var line in sp.DumpPage(page, "gupsim page")) o.WriteLine(line);
    }

    private static string KindText(AddressInfo i) => i.Kind switch
    {
        AddressKind.Page => $"struct page of pfn 0x{i.Pfn:x}",
        AddressKind.Misaligned => $"inside the struct page of pfn 0x{i.Pfn:x}, {i.OffsetInPage} bytes in (not a struct page pointer)",
        AddressKind.Other => "kernel memory that is not a struct page",
        _ => "nothing mapped: a dereference oopses",
    };
}
