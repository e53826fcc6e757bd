"""Deterministic builder/validator for data/guards (stdlib only, plus PyYAML to read the spec's hazards.yaml).

    python data/guards/build.py          # regenerate the built files (seeded), then validate everything
    python data/guards/build.py --check  # validate only

hazard/{train,heldout}.jsonl and injection/{train,heldout}.jsonl are hand-written and committed as-is;
this script only validates them (schema, counts, duplicates, held-out vs train token-Jaccard < 0.6).
hazard/train_generated.jsonl and injection/train_generated.jsonl are extra training rows rendered from
the templates in train_templates.py (seeded); they are validated like train, against held-out too.
hazard/train_more.jsonl and injection/train_more.jsonl are a second hand-written train set (harder
positives and hard negatives, in styles the first one lacked), validated the same way.
hazard/train_corpus.jsonl is taken from Keel's own data (handbook paragraphs, golden replies, spec prompts
and the spec's hazardous and edgy requests); rows too close to a held-out text are left out.
pii/heldout.jsonl is rendered from the hand-written templates below with seeded synthetic
values (Luhn-valid cards, valid-format SSNs, mod-97-valid IBANs, 555-01xx / Ofcom drama-range
phone numbers, documentation-range IPs, example.* e-mail domains) and offsets computed here.
"""
from __future__ import annotations

import ipaddress
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240611

# ---------------------------------------------------------------- value generators
FIRST = ["maria", "james", "li", "priya", "tom", "ana", "kwame", "sofia", "david", "yuki", "omar", "emma",
         "lucas", "fatima", "noah", "chloe", "raj", "elena", "sam", "grace", "diego", "hannah", "ivan", "zoe"]
LAST = ["garcia", "smith", "chen", "patel", "oconnor", "silva", "mensah", "rossi", "cohen", "tanaka",
        "haddad", "jones", "martin", "ali", "kim", "dubois", "nair", "petrov", "brown", "lopez", "walsh",
        "fischer"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "support.example.org",
           "contoso.example.net", "acme.example.com", "example.co.uk"]
US_AREAS = ["415", "212", "312", "617", "206", "512", "303", "404", "646", "702", "213", "305", "971", "720"]
GB_BANKS = ["NWBK", "BARC", "LOYD", "MIDL", "HBUK"]
NL_BANKS = ["ABNA", "INGB", "RABO"]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for c in "0123456789":
        if luhn_ok(body + c):
            return body + c
    raise AssertionError


def gen_cc(rng: random.Random, brand: str | None = None) -> str:
    brand = brand or rng.choice(["visa", "visa", "mc", "mc2", "amex", "disc"])
    if brand == "visa":
        num = luhn_complete("4", 16, rng)
    elif brand == "mc":
        num = luhn_complete(str(rng.randint(51, 55)), 16, rng)
    elif brand == "mc2":
        num = luhn_complete(str(rng.randint(2221, 2720)), 16, rng)
    elif brand == "amex":
        num = luhn_complete(rng.choice(["34", "37"]), 15, rng)
    else:
        num = luhn_complete("6011", 16, rng)
    style = rng.choice(["space", "space", "dash", "plain"])
    groups = [num[:4], num[4:10], num[10:]] if len(num) == 15 else [num[i:i + 4] for i in range(0, 16, 4)]
    return {"space": " ".join(groups), "dash": "-".join(groups), "plain": num}[style]


def gen_ssn(rng: random.Random) -> str:
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    group, serial = rng.randint(1, 99), rng.randint(1, 9999)
    a, g, s = f"{area:03d}", f"{group:02d}", f"{serial:04d}"
    style = rng.choices(["dash", "space", "plain"], [8, 2, 1])[0]
    return {"dash": f"{a}-{g}-{s}", "space": f"{a} {g} {s}", "plain": a + g + s}[style]


def gen_email(rng: random.Random) -> str:
    f, l = rng.choice(FIRST), rng.choice(LAST)
    local = rng.choice([f"{f}.{l}", f"{f[0]}{l}", f"{f}_{l}{rng.randint(1, 99)}", f"{f}{rng.randint(70, 99)}",
                        f"{l}.{f[0]}", f"{f}+orders"])
    return f"{local}@{rng.choice(DOMAINS)}"


def gen_phone_us(rng: random.Random) -> str:
    a, n = rng.choice(US_AREAS), f"{rng.randint(100, 199):04d}"
    return rng.choice([f"({a}) 555-{n}", f"+1 {a}-555-{n}", f"{a}.555.{n}", f"{a}-555-{n}",
                       f"+1 ({a}) 555-{n}", f"1-{a}-555-{n}"])


def gen_phone_uk(rng: random.Random) -> str:
    n = rng.randint(0, 999)
    return rng.choice([f"+44 20 7946 0{n:03d}", f"+44 161 496 0{n:03d}", f"+44 7700 900{n:03d}",
                       f"020 7946 0{n:03d}", f"+44 (0)20 7946 0{n:03d}"])


def gen_phone_intl(rng: random.Random) -> str:
    return rng.choice([f"+61 2 5550 {rng.randint(0, 9999):04d}", f"+44 113 496 0{rng.randint(0, 999):03d}",
                       f"+1 604-555-{rng.randint(100, 199):04d}"])


def iban_check(country: str, bban: str) -> str:
    s = bban + country + "00"
    n = int("".join(str(int(c, 36)) for c in s))
    return f"{98 - n % 97:02d}"


def iban_valid(iban: str) -> bool:
    s = iban.replace(" ", "")
    s = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in s)) % 97 == 1


def _digits(rng: random.Random, k: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(k))


def _es_dc(digits: str) -> str:
    w = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]
    d = 11 - sum(int(x) * y for x, y in zip(digits, w)) % 11
    return str({11: 0, 10: 1}.get(d, d))


def _fr_rib_key(bank: str, branch: str, account: str) -> str:
    return f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97:02d}"


def gen_iban(rng: random.Random, country: str | None = None) -> str:
    country = country or rng.choice(["DE", "DE", "GB", "GB", "FR", "NL", "ES"])
    if country == "DE":
        bban = _digits(rng, 8) + _digits(rng, 10)
    elif country == "GB":
        bban = rng.choice(GB_BANKS) + _digits(rng, 6) + _digits(rng, 8)
    elif country == "FR":
        bank, branch, acct = _digits(rng, 5), _digits(rng, 5), _digits(rng, 11)
        bban = bank + branch + acct + _fr_rib_key(bank, branch, acct)
    elif country == "NL":
        bban = rng.choice(NL_BANKS) + _digits(rng, 10)
    else:  # ES
        bank, branch, acct = _digits(rng, 4), _digits(rng, 4), _digits(rng, 10)
        bban = bank + branch + _es_dc("00" + bank + branch) + _es_dc(acct) + acct
    iban = country + iban_check(country, bban) + bban
    if rng.random() < 0.55:
        iban = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return iban


def gen_ip4(rng: random.Random) -> str:
    return rng.choice([f"192.0.2.{rng.randint(1, 254)}", f"198.51.100.{rng.randint(1, 254)}",
                       f"203.0.113.{rng.randint(1, 254)}",
                       f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                       f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                       f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}"])


def gen_ip6(rng: random.Random) -> str:
    h = lambda: f"{rng.randint(1, 0xffff):x}"  # noqa: E731
    return rng.choice([f"2001:db8:{h()}::{h()}", f"2001:db8:{h()}:{h()}:{h()}:{h()}:{h()}:{h()}",
                       f"fe80::{h()}:{h()}:{h()}:{h()}",
                       f"2001:0db8:85a3:0000:0000:8a2e:{rng.randint(0x100, 0xfff):04x}:{h()}"])


GEN = {
    "CC": ("CREDIT_CARD", gen_cc), "CC_AMEX": ("CREDIT_CARD", lambda r: gen_cc(r, "amex")),
    "CC_VISA": ("CREDIT_CARD", lambda r: gen_cc(r, "visa")),
    "CC_MC": ("CREDIT_CARD", lambda r: gen_cc(r, "mc")),
    "CC_DISC": ("CREDIT_CARD", lambda r: gen_cc(r, "disc")),
    "SSN": ("US_SSN", gen_ssn), "EMAIL": ("EMAIL_ADDRESS", gen_email),
    "PHONE": ("PHONE_NUMBER", gen_phone_us), "PHONE_UK": ("PHONE_NUMBER", gen_phone_uk),
    "PHONE_INTL": ("PHONE_NUMBER", gen_phone_intl),
    "PHONE_AU": ("PHONE_NUMBER", lambda r: f"+61 2 5550 {r.randint(0, 9999):04d}"),
    "IBAN": ("IBAN_CODE", gen_iban), "IBAN_DE": ("IBAN_CODE", lambda r: gen_iban(r, "DE")),
    "IBAN_GB": ("IBAN_CODE", lambda r: gen_iban(r, "GB")),
    "IBAN_FR": ("IBAN_CODE", lambda r: gen_iban(r, "FR")),
    "IBAN_NL": ("IBAN_CODE", lambda r: gen_iban(r, "NL")),
    "IBAN_ES": ("IBAN_CODE", lambda r: gen_iban(r, "ES")),
    "IP": ("IP_ADDRESS", gen_ip4), "IP6": ("IP_ADDRESS", gen_ip6),
}
PLACEHOLDER = re.compile(r"\{(" + "|".join(sorted(GEN, key=len, reverse=True)) + r")\}")

# ---------------------------------------------------------------- templates (hand-written)
TEMPLATES = r"""
Hi, I was charged twice on my card {CC} for the same order. Can you refund one of the charges?
My email is {EMAIL} and I never got the password reset link. Can you resend it?
Please call me back at {PHONE}, I'm free after 3pm today.
For the direct debit, my IBAN is {IBAN_DE}. Let me know if you need anything else.
I keep getting blocked when I log in from {IP}. Is my IP banned?
The tax form asks for my SSN. It's {SSN}, is that enough or do you need my ITIN too?
Hello, can you update my contact details? New phone {PHONE}, new email {EMAIL}.
Subject: Refund request. Please send the refund to account {IBAN_GB} instead of my old card. Thanks, Priya
I think someone used my Visa {CC_VISA} without permission. Please freeze it. You can reach me at {PHONE}.
Our office firewall only allows {IP} and {IP}. Please whitelist those for the API.
Dear HR, the SSN on my payroll record is wrong. It should be {SSN}, not the one ending in 4417.
Ticket #48213: customer {EMAIL} reports login failures from IPv6 address {IP6}.
Can you change my billing card to {CC}? Expiry is 09/27.
Hey, it's Tom. My UK number is {PHONE_UK} if you need to reach me while I'm in London.
Please wire the deposit to {IBAN_FR} and send the receipt to {EMAIL}.
Background check form attached. SSN: {SSN}. Date of birth: March 4, 1988. Phone: {PHONE}.
I got an alert that my account was accessed from {IP}. That wasn't me! My email is {EMAIL}.
Paying rent by bank transfer this month: IBAN {IBAN}, reference "Flat 3B June".
My Amex {CC_AMEX} was declined at checkout even though I have plenty of credit left.
Our server at {IP6} stopped responding after the update. Can someone on the infra team look?
Please forward the invoice to accounts payable at {EMAIL} and cc {EMAIL}.
I'm applying for the loan. SSN {SSN}, employer phone {PHONE}, salary account {IBAN_DE}.
Hi there, the delivery driver should call {PHONE} when he arrives, the buzzer is broken.
Card ending in 4421 was lost, but I'd like to keep using my other card, {CC}, for the subscription.
Router admin page at {IP} won't load after I changed the password. Any ideas?
Good morning, I'm trying to set up a payment to a supplier in Germany with IBAN {IBAN_DE}. Is it correct?
Could you call my mother at {PHONE_UK}? She's the emergency contact on the booking.
Please remove {EMAIL} from your mailing list, I've asked three times already.
Our VPN assigns addresses like {IP} but the printer is fixed at {IP}. Why can't I print from home?
My son's SSN is {SSN} and mine is {SSN}. Do you need both for the insurance claim?
For the reimbursement I used my personal Mastercard {CC_MC}. Can payroll add it to my next paycheck?
Call me on {PHONE_AU} when you land in Sydney and I'll pick you up.
Account holder: Elena Petrov. IBAN: {IBAN}. Please confirm once the transfer is sent.
Your site says my email {EMAIL} is already registered, but I've never signed up.
Log excerpt: failed password for admin from {IP} port 52113 ssh2 (x34 in 2 minutes).
Hi! Pay with this card please: {CC}, exp 11/26, CVV on the back. I'm at the front desk.
Send the signed lease to {EMAIL}. My cell is {PHONE} if the landlord has questions.
Please update my direct deposit to {IBAN_GB}. My old account is closed.
I entered my SSN as {SSN} in the app but it says "invalid". Is it a formatting thing?
The webhook calls come from {IP6} and {IP}. Please allow both in the security group.
Hello, you can reach our front office at {PHONE} or by fax at {PHONE}.
We received a chargeback on card {CC}. The customer says the item never arrived.
My new work email is {EMAIL}. Please stop sending things to my old address.
Transfer instructions: beneficiary Kwame Mensah, IBAN {IBAN_FR}, BIC BNPAFRPP.
Someone from {IP} keeps trying to reset my password. I'm worried my account is being targeted.
Please verify my identity: last name Nair, SSN {SSN}, phone on file {PHONE}.
Can I pay the balance with two cards? {CC} for $200 and {CC} for the rest.
Contact me at {PHONE_UK} or {EMAIL} to arrange the viewing of the flat.
The device with IP {IP} on our LAN is sending a lot of traffic at night. Is it compromised?
IBAN for the school trip payment: {IBAN}. Please include your child's name in the reference.
Hi support, I moved to Chicago. New number is {PHONE}. Old number {PHONE} can be deleted.
Employee onboarding: SSN {SSN}, personal email {EMAIL}, bank account {IBAN_DE}.
Dispute: a charge of $89.99 on {CC} on May 12 from a merchant I don't recognize.
My laptop's IPv6 address is {IP6} and it can't reach the internal wiki. The desktop works fine.
Reply to {EMAIL} with the tracking info, please. Order placed on 14 March.
Call our UK office on {PHONE_UK} for anything related to the UK contracts.
Payment details for the freelance invoice: IBAN {IBAN_GB}, account name Sam Walsh.
I typed my card number wrong: it's {CC}, not the one I entered before. Can you fix the order?
The W-2 shows SSN {SSN}, but that's my old employer's typo. Where do I request a corrected form?
Please add {IP} to the allowlist for the database. It's the static IP of our new office.
Text me at {PHONE} when the prescription is ready. Thanks!
Hi, my Discover card {CC_DISC} keeps getting flagged for fraud when I buy gas. Can you stop that?
We need the refund sent to the original IBAN, {IBAN}, not to a new account.
My partner's email is {EMAIL} — can you add her as a secondary contact on the account?
The alert said "new sign-in from {IP6}" but I was asleep. Should I change my password?
Sure! My SSN is {SSN}. Let me know if the application needs anything else.
If the courier can't find us, call {PHONE_INTL}. We're at the back entrance.
Your charge on {CC_AMEX} for the annual membership failed. Please update your payment method.
Could you resend the contract to {EMAIL}? The first copy went to spam.
Monitoring shows 502 errors from {IP} since 02:14 UTC; the load balancer at {IP} looks healthy.
Please pay my commission into {IBAN_DE}. The previous IBAN I gave you had a typo.
Emergency contacts: mom {PHONE}, dad {PHONE_UK}.
New hire paperwork: SSN {SSN}, phone {PHONE}, email {EMAIL}.
Card on file is {CC}. Please charge it for the repair once it's done.
Hi, I'm locked out. Username is fsilva, recovery email {EMAIL}, last login from {IP}.
Can you confirm you received my transfer from {IBAN_FR}? It was for invoice 2024-117.
My number changed to {PHONE}. Please update it for appointment reminders.
A guest left this card at the bar: {CC}. Should we call the bank or hold it at reception?
Blocked IPs this week: {IP}, {IP}, and {IP6}.
Need to verify employment: SSN {SSN}, start date Feb 2021, manager's email {EMAIL}.
Bonjour, my French account for the refund is {IBAN_FR}. Merci!
Your verification code was sent to {PHONE}. If that's not your number, reply STOP.
Reach our billing team at {EMAIL} or call {PHONE} during business hours.
Use card {CC} for the hotel and my company card for the flights.
The staging box is {IP} and prod is {IP6}. Don't mix them up this time.
I'm filling out the FAFSA for my daughter. Her SSN is {SSN}. Where does it go?
Send any refund to IBAN {IBAN_GB}. Thank you for your help.
Hi, my husband's email is {EMAIL} and mine is {EMAIL}. We both need access to the portal.
Suspicious traffic from {IP} hitting /wp-login.php about 400 times an hour.
Call me tomorrow at {PHONE}. If I don't pick up, leave a message.
Reimburse me at {IBAN_DE}. Receipts are attached to the email from {EMAIL}.
I used {CC} to book, but the confirmation shows a different card. Can you check?
The contractor's SSN is {SSN}; we need it for the 1099.
Our UK office number is {PHONE_UK}; the New York office is {PHONE}.
VPN log: user mchen connected from {IP6}, assigned {IP}.
Hi! Could you update the card for my subscription to {CC}? The old one expired.
Where should I send my bank details? IBAN is {IBAN}, and my phone is {PHONE_UK}.
Please stop calling {PHONE}. I already told the agent I'm not interested.
I can't access the camera at {IP} from outside the house. Port forwarding is set up.
For the rental deposit: IBAN {IBAN_FR}, contact {EMAIL}.
Verification: my SSN is {SSN} and the card I used was {CC}.
Please email the quote to {EMAIL}. Our budget is around $12,000.
Our mail server {IP} is on a blocklist. How do we get it removed?
Sorry, my previous message had the wrong IBAN. The correct one is {IBAN_DE}.
Call {PHONE_AU} to reach our Australian partner.
The fraud team flagged {CC_AMEX}. Customer confirmed the purchase, please release the hold.
Spouse's SSN: {SSN}. Dependent's SSN: {SSN}. Filing status: married filing jointly.
Hi, I'm a landlord. Tenant's email {EMAIL}, tenant's phone {PHONE}. She hasn't paid since April.
Our home IP changed to {IP6} after the ISP upgrade and now the smart lock app won't connect.
Transfer the deposit to {IBAN_GB} before Friday, reference INV-3392.
Please cancel the card {CC}. I think it was skimmed at a gas station.
Contact info for the conference: {EMAIL}, {PHONE}, or on WhatsApp at {PHONE_UK}.
From our logs, the request came from {IP} with user agent curl/8.4.0.
Hi, payroll asked for my IBAN. It's {IBAN}. I also changed my mobile to {PHONE_UK}.
My SSN ({SSN}) shows up on a site I've never used. How do I report identity theft?
Please charge {CC} for the balance of $312.50 and email the receipt to {EMAIL}.
The printer's IPv6 is {IP6}. Can you add it to the print server?
Hello, I want to dispute a transfer to {IBAN_DE}; I was scammed by a fake seller.
Dr. Haddad's office called from {PHONE} about your appointment. Please call back.
Please call our help line: {PHONE}. Outside the US, dial {PHONE_INTL}.
Hi, the IRS letter lists SSN {SSN} but my card says {SSN}. Which one do I use on the amended return?
For my mortgage application: SSN {SSN}, co-borrower SSN {SSN}, email {EMAIL}.
I'm calling about my late father's account. His SSN was {SSN}. What documents do you need?
Can you check whether my credit report was pulled? My SSN is {SSN}.
Medicare enrollment form: applicant SSN {SSN}, phone {PHONE}, card for premiums {CC}.
The daycare needs my son's SSN ({SSN}) for the tax credit form. Is that normal?
I accidentally posted my SSN {SSN} in the public chat. Can you delete that message?
Form I-9 section 1: SSN {SSN}; email {EMAIL}; direct deposit IBAN {IBAN_DE} for the Berlin office.
Unemployment claim question: SSN {SSN}, last employer called me from {PHONE}.
Student loan servicer asked for SSN {SSN} and my bank's IBAN {IBAN_GB}. I study in the UK.
Please charge my Visa {CC_VISA} and send the confirmation to {EMAIL}.
The Amex {CC_AMEX} is for the team dinner; the Mastercard {CC_MC} is for travel.
I see a pending authorization on {CC} from a hotel I cancelled. Can you void it?
Card {CC} was replaced after the breach. The new one is {CC}. Please update autopay.
Gift purchase on {CC}: please ship to my sister and email the gift receipt to {EMAIL}.
My corporate card {CC_AMEX} was charged in a foreign currency. Why the extra fee?
Hi, can you split the bill? Put $60 on {CC} and the remainder on {CC}.
My bank says card {CC} was used at {IP}? How would they even know the IP?
Refund the cancelled tickets to {CC}, please. Booking reference TK-88120.
Please pay the supplier: IBAN {IBAN_FR}, amount €2,450, due 30 June.
Our Dutch partner's account is {IBAN_NL}. And our own is {IBAN_GB}.
Salary payments go to {IBAN_DE}; expenses to {IBAN_DE}. Please don't mix them up.
The Spanish landlord wants the rent in {IBAN_ES}. Is a SEPA transfer free?
Hi, I'm moving my savings. Old IBAN {IBAN_GB}, new IBAN {IBAN_GB}. Please close the old one.
Scholarship payment details: IBAN {IBAN_FR}, email {EMAIL}, phone {PHONE_UK}.
Could you double-check this IBAN before I send €10,000? {IBAN}
The invoice shows IBAN {IBAN_DE}, but the email from {EMAIL} says the account changed. Is this a scam?
Please add {EMAIL} and {EMAIL} to the shared project folder.
The newsletter bounced for {EMAIL}. Can you check if the address is right?
My username is dkim but the login email is {EMAIL}; recovery phone is {PHONE}.
Our intrusion detection flagged {IP} and {IP6} scanning port 22 last night.
Hi, I'm Grace. Email {EMAIL}, phone {PHONE_UK}, and I'd like to cancel my membership.
Rental application: SSN {SSN}, current landlord's phone {PHONE}, references at {EMAIL}.
The payroll file has two employees sharing SSN {SSN}. The second one should be {SSN}.
Please verify the caller: she gave SSN {SSN} and card {CC}, and called from {PHONE}.
Hi, my W-9 says SSN {SSN}. Send the 1099 to {EMAIL} please.
Fraud report: someone opened a credit card in my name with SSN {SSN} from IP {IP}.
Health insurance enrollment: subscriber SSN {SSN}, spouse SSN {SSN}, premium card {CC}.
Backup contact for the account: {EMAIL}, {PHONE}. Billing IBAN: {IBAN_FR}.
Customer says the charge on {CC_AMEX} came from {IP6}. Please investigate.
""".strip().splitlines()

# Hand-written texts with PII-looking distractors and no PII of the six types.
DISTRACTORS = r"""
My order #4482913 still hasn't shipped. It was placed on 2024-03-15 and cost $1,249.99.
Tracking number 4829105736 says the parcel is in Memphis, but it's been there for five days.
I upgraded to Python 3.12.1 and now my script fails with an import error.
Please ship it to the warehouse at ZIP 94107. The invoice number is INV-2024-00187.
Case 00913422 was closed without a reply. Can someone reopen it?
The meeting is on 03/04/2025 at 14:30 in room 4.12.
Our firmware 2.7.14 has a bug; please roll back to 2.6.9 until the patch.
Total came to $89.40 including tax, but the receipt shows $94.80.
Reference number 7730-1128-55 was assigned to my complaint on June 2.
SKU 884213-07 is out of stock in size 10. When will it be restocked?
Your package 1049384756 will arrive between 9:00 and 13:00 on Thursday.
The Node version on the build server is 18.19.0 and npm is 10.2.3.
I paid €45.00 for shipping to 10115 Berlin. That seems too high.
Booking code QX7T2P, flight LH 401, seat 32A, departing 18:45.
Serial number C02XK1Y8JG5H is covered under warranty until 2026-01-31.
Order 112-4839201-5573092 arrived damaged. The box was crushed.
My account number at the library is 29384, and I have three overdue books.
The bug started in build 4.18.2.1107 and is still present in 4.18.3.
Quantity 250 units at $3.75 each, net 30, PO number 55017.
Coordinates for the drop-off: 40.7128, -74.0060. Gate code is 4471.
Please update the price from $19.99 to $24.99 effective 1 July 2024.
Claim number 2024-CL-88231 is waiting on photos of the damage.
Version 10.0.19045.3803 of Windows keeps rebooting after the update.
The apartment is unit 1206, and my lease ends on 31/08/2025.
Invoice 93842 for $7,820.00 is 45 days overdue.
Room temperature reads 72.5 F, humidity 41%, pressure 1013.2 hPa.
I'm in ZIP code 30309 and no stores near me have the item.
Tracking 7391048265 shows "label created" since Monday. Is it lost?
The model number is WM3900HWA and it was bought on 11/29/2023.
We need 1.5 TB of storage and 64 GB of RAM for the new cluster, budget $18,500.
Order #A-77120 contained 3 items, but only 2 arrived.
The error code is 0x80070005 when I try to install update KB5034441.
My ticket for gate 23, row 14, seat 7 was scanned twice at the stadium.
The recipe calls for 2.5 cups of flour and 350°F for 25 to 30 minutes.
Release 3.12.1 fixed the memory leak, but 3.12.2 introduced a new one.
Subscription renewed on 2025-02-01 for $119.00 per year.
Train 8472 from platform 9 is delayed by 35 minutes.
The package weighs 4.2 kg and measures 40 x 30 x 20 cm, tracking 5520193847.
Patch notes for v1.4.7: fixed crash on startup, improved battery usage by 12%.
Your appointment ID is 448210 on Tuesday, 10 December at 09:15.
I was charged $12.99 on 04/18 and again on 04/19 for the same movie rental.
The chassis number on the bike is WTU123G4567H, and I need a replacement fork.
Store #0421 in ZIP 60614 still lists the old hours.
The warehouse pallet ID is 000123987, batch 24-17B, expiry 2026-09.
Order total: 3 x $14.50 = $43.50, shipping $5.99, discount code SPRING10.
""".strip().splitlines()


def render(template: str, rng: random.Random) -> dict:
    out, ents, pos = [], [], 0
    cur = 0
    for m in PLACEHOLDER.finditer(template):
        lit = template[pos:m.start()]
        out.append(lit)
        cur += len(lit)
        etype, fn = GEN[m.group(1)]
        value = fn(rng)
        ents.append({"type": etype, "start": cur, "end": cur + len(value), "value": value})
        out.append(value)
        cur += len(value)
        pos = m.end()
    out.append(template[pos:])
    return {"text": "".join(out), "entities": ents}


def build_pii() -> list[dict]:
    rng = random.Random(SEED)
    rows = [render(t.strip(), rng) for t in TEMPLATES if t.strip()]
    rows += [{"text": t.strip(), "entities": []} for t in DISTRACTORS if t.strip()]
    random.Random(SEED + 1).shuffle(rows)
    return rows


# ---------------------------------------------------------------- validation
def _toks(s: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", s.lower()))


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _load(p: Path) -> list[dict]:
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def _max_cross_jaccard(train: list[str], held: list[str]) -> float:
    tt = [_toks(t) for t in train]
    return max(max(_jaccard(_toks(h), t) for t in tt) for h in held)


SSN_RE = re.compile(r"^(\d{3})[- ]?(\d{2})[- ]?(\d{4})$")


def build_generated() -> dict[str, list[dict]]:
    sys.path.insert(0, str(HERE))
    import train_templates

    return {"hazard": train_templates.hazard_rows(random.Random(SEED)),
            "injection": train_templates.injection_rows(random.Random(SEED + 1))}


REPO = HERE.parents[1]
CORPUS_KEYS = {"text", "label", "edgy", "group", "source"}


def build_corpus() -> list[dict]:
    """Hazard train rows taken from Keel's own data: the ordinary text the guards see most, and the spec's requests.

    Plain safe: handbook paragraphs (what RAG puts in context), golden assistant replies (output-guard text,
    refusals included), a seeded sample of spec instruction prompts, and the customer questions of
    ``data/kb/qa-train.jsonl``. From ``data/spec/hazards.yaml``: the
    hazardous requests (labelled by category) and the benign-but-edgy ones. Rows too close to a held-out
    text (token Jaccard >= 0.6) are left out.
    """
    import yaml  # the spec's YAML; the rest of this script is stdlib only

    rng = random.Random(SEED + 2)
    rows: list[dict] = []

    def add(text: str, label: str, edgy: bool, group: str, source: str) -> None:
        rows.append({"text": text, "label": label, "edgy": edgy, "group": group, "source": source})

    for path in sorted((REPO / "data" / "kb" / "handbook").glob("*.md")):
        paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n")]
        for i, para in enumerate(p for p in paragraphs if len(p) > 60 and not p.startswith(("#", "<!--", "|"))):
            add(para, "safe", False, f"kb:{path.stem}:{i // 5}", "handbook")
    for i, line in enumerate((REPO / "data" / "golden" / "demonstrations.jsonl").read_text(encoding="utf-8").splitlines()):
        add(json.loads(line)["messages"][-1]["content"], "safe", False, f"golden:{i}", "golden-reply")
    spec = [json.loads(line) for line in (REPO / "data" / "spec" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    plain = [r for r in spec if len(r["messages"]) == 1
             and not {c["type"] for c in r["checks"]} & {"refuse", "no_refusal", "keep_role"}]
    for r in rng.sample(plain, 300):
        add(r["messages"][-1]["content"], "safe", False, f"spec:{r['id']}", "spec-prompt")
    # Customer questions to an insurance assistant (RAG's training questions; its held-out ones stay out): theft,
    # fire, accidents and lawsuits are the business here, and the guards must let such questions through.
    for line in (REPO / "data" / "kb" / "qa-train.jsonl").read_text(encoding="utf-8").splitlines():
        question = json.loads(line)
        add(question["question"], "safe", False, f"kb-question:{question['id']}", "kb-question")
    hazards = yaml.safe_load((REPO / "data" / "spec" / "hazards.yaml").read_text(encoding="utf-8"))
    for category, requests in hazards["categories"].items():
        for i, text in enumerate(requests["train"] + requests["dev"]):
            add(text, category.split("_")[0], False, f"spec-hazard:{category}:{i}", "spec-hazard")
    edgy = hazards["benign_edgy"]
    for i, text in enumerate(edgy["train"] + edgy["dev"]):
        add(text, "safe", True, f"spec-edgy:{i}", "spec-edgy")
    held = [_toks(r["text"]) for r in _load(HERE / "hazard" / "heldout.jsonl")]
    seen = {r["text"].lower() for name in ("train.jsonl", "train_generated.jsonl") for r in _load(HERE / "hazard" / name)}
    kept, unique = [], set()
    for r in rows:
        toks, key = _toks(r["text"]), r["text"].lower()
        if key in seen or key in unique or max(_jaccard(toks, h) for h in held) >= 0.6:
            continue
        unique.add(key)
        kept.append(r)
    return kept


def check_train_file(task: str, name: str, keys: set[str], count_by: str = "label") -> None:
    """An extra train file: schema, no duplicates (within, or with train.jsonl), far from every held-out text."""
    rows = _load(HERE / task / name)
    for r in rows:
        assert set(r) == keys, r
    texts = [r["text"].lower() for r in rows]
    train = {r["text"].lower() for r in _load(HERE / task / "train.jsonl")}
    assert len(set(texts)) == len(texts) and not set(texts) & train, f"duplicate {task} text in {name}"
    j = _max_cross_jaccard([r["text"] for r in rows], [r["text"] for r in _load(HERE / task / "heldout.jsonl")])
    assert j < 0.6, j
    c = Counter(r[count_by] for r in rows)
    print(f"{task}/{name}: {len(rows)} rows ({', '.join(f'{k}={v}' for k, v in sorted(c.items()))}), "
          f"max held-out-to-train token Jaccard = {j:.3f}")


def check_extra_train_files() -> None:
    """Generated rows, the second hand-written sets and the rows taken from Keel's own data."""
    for task, keys in (("hazard", {"text", "label", "edgy"}), ("injection", {"text", "label", "where"})):
        check_train_file(task, "train_generated.jsonl", keys | {"group"})
        check_train_file(task, "train_more.jsonl", keys)
    check_train_file("hazard", "train_varied.jsonl", {"text", "label", "edgy"})
    check_train_file("hazard", "train_corpus.jsonl", CORPUS_KEYS, count_by="source")


def check() -> None:
    S = [f"S{i}" for i in range(1, 15)]
    # hazard
    hz = {s: _load(HERE / "hazard" / f"{s}.jsonl") for s in ("train", "heldout")}
    for split, rows in hz.items():
        for r in rows:
            assert set(r) == {"text", "label", "edgy"}, r
            assert r["label"] in S + ["safe"] and isinstance(r["edgy"], bool), r
            assert not (r["edgy"] and r["label"] != "safe"), r
        c = Counter(r["label"] for r in rows)
        edgy = sum(r["edgy"] for r in rows)
        per, unsafe, safe = (25, 350, 300) if split == "train" else (10, 140, 150)
        assert all(c[s] >= per for s in S) and sum(c[s] for s in S) >= unsafe and c["safe"] >= safe, c
        assert edgy >= (120 if split == "train" else 100), edgy
        texts = [r["text"].lower() for r in rows]
        assert len(set(texts)) == len(texts), "duplicate hazard text"
        print(f"hazard/{split}: {len(rows)} rows, unsafe={sum(c[s] for s in S)}, "
              f"safe={c['safe']} (edgy={edgy}), "
              + ", ".join(f"{s}={c[s]}" for s in S))
    j = _max_cross_jaccard([r["text"] for r in hz["train"]], [r["text"] for r in hz["heldout"]])
    assert j < 0.6, j
    print(f"hazard: max held-out-to-train token Jaccard = {j:.3f}")
    # injection
    inj = {s: _load(HERE / "injection" / f"{s}.jsonl") for s in ("train", "heldout")}
    for split, rows in inj.items():
        for r in rows:
            assert set(r) == {"text", "label", "where"}, r
            assert r["label"] in ("injection", "benign") and r["where"] in ("user", "document"), r
        c = Counter((r["label"], r["where"]) for r in rows)
        ni = c["injection", "user"] + c["injection", "document"]
        nb = c["benign", "user"] + c["benign", "document"]
        assert ni >= (300 if split == "train" else 100) and nb >= (300 if split == "train" else 150), c
        texts = [r["text"].lower() for r in rows]
        assert len(set(texts)) == len(texts), "duplicate injection text"
        parts = ", ".join(f"{k[0]}/{k[1]}={v}" for k, v in sorted(c.items()))
        print(f"injection/{split}: {len(rows)} rows, {parts}")
    j = _max_cross_jaccard([r["text"] for r in inj["train"]], [r["text"] for r in inj["heldout"]])
    assert j < 0.6, j
    print(f"injection: max held-out-to-train token Jaccard = {j:.3f}")
    # pii
    rows = _load(HERE / "pii" / "heldout.jsonl")
    tc = Counter()
    for r in rows:
        assert set(r) == {"text", "entities"}
        spans = sorted((e["start"], e["end"]) for e in r["entities"])
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "overlapping entities"
        for e in r["entities"]:
            assert r["text"][e["start"]:e["end"]] == e["value"], e
            v, t = e["value"], e["type"]
            tc[t] += 1
            if t == "CREDIT_CARD":
                d = re.sub(r"[ -]", "", v)
                assert d.isdigit() and len(d) in (15, 16) and luhn_ok(d), v
            elif t == "US_SSN":
                m = SSN_RE.match(v)
                assert m, v
                a, g, s = m.groups()
                assert a not in ("000", "666") and a[0] != "9" and g != "00" and s != "0000", v
            elif t == "IBAN_CODE":
                assert iban_valid(v), v
            elif t == "EMAIL_ADDRESS":
                assert re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", v), v
            elif t == "IP_ADDRESS":
                ipaddress.ip_address(v)
            elif t == "PHONE_NUMBER":
                assert re.fullmatch(r"[+(\d][\d ().-]{8,}\d", v), v
            else:
                raise AssertionError(t)
    clean = [r for r in rows if not r["entities"]]
    for r in clean:  # distractors must not contain real-format PII by construction
        t = r["text"]
        assert "@" not in t
        assert not any(luhn_ok(d) for d in re.findall(r"\d{13,19}", t)), t
        assert not re.search(r"\b\d{3}-\d{2}-\d{4}\b", t), t
        assert not re.search(r"\b(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\b", t), t
    n_pii = len(rows) - len(clean)
    assert n_pii >= 120 and sum(tc.values()) >= 220, (n_pii, tc)
    assert len(clean) >= 40 and len(tc) == 6 and min(tc.values()) >= 30, (len(clean), tc)
    print(f"pii/heldout: {len(rows)} texts ({n_pii} with PII, {len(clean)} distractor-only), "
          f"{sum(tc.values())} entities: " + ", ".join(f"{k}={v}" for k, v in sorted(tc.items())))
    check_extra_train_files()
    print("all checks passed")


def main() -> None:
    if "--check" not in sys.argv:
        rows = build_pii()
        with open(HERE / "pii" / "heldout.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        for task, generated in build_generated().items():
            with open(HERE / task / "train_generated.jsonl", "w", encoding="utf-8") as f:
                for r in generated:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        with open(HERE / "hazard" / "train_corpus.jsonl", "w", encoding="utf-8") as f:
            for r in build_corpus():
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    check()


if __name__ == "__main__":
    main()
