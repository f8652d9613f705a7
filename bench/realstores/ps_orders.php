<?php
// Usage: php ps_orders.php PS_ROOT ORDERS [FIRST]
// Adds ORDERS orders to the realstores PrestaShop (../shared/realstores) with PrestaShop's own classes, as
// its front office makes them: a customer (account or guest) with an address for every three orders, a
// cart of one to three catalogue products, the order validated by the check payment module and, for most,
// moved on to a later state. Customers are numbered from FIRST (default 1), so that runs add to each
// other. Prints one JSON line: what it created and how long it took. For bench/realstores_sync.py.
$root = $argv[1];
$wanted = (int) $argv[2];
$first = (int) ($argv[3] ?? 1);
$_SERVER['HTTP_HOST'] = '127.0.0.1'; $_SERVER['REQUEST_METHOD'] = 'GET';
$_SERVER['REMOTE_ADDR'] = '127.0.0.1'; $_SERVER['REQUEST_URI'] = '/';
require $root . '/config/config.inc.php';
foreach (glob($root . '/modules/*/vendor/autoload.php') as $f) { require_once $f; }
global $kernel;
$kernel = new AppKernel('prod', false);
$kernel->boot();
Configuration::updateValue('PS_MAIL_METHOD', 3); // never send e-mails
// No invoice PDFs while seeding (restored at the end): a state change renders one for its e-mail even when
// none is sent, which outside a front office request fails now and then and leaks memory (TCPDF).
$invoices = Configuration::get('PS_INVOICE');
Configuration::updateValue('PS_INVOICE', 0);
$ctx = Context::getContext();
Shop::setContext(Shop::CONTEXT_SHOP, 1);
$ctx->shop = new Shop(1);
$ctx->currency = new Currency((int) Configuration::get('PS_CURRENCY_DEFAULT'));
$ctx->language = new Language(1);
$ctx->employee = new Employee(1);
$ctx->link = new Link();
$ctx->country = new Country((int) Configuration::get('PS_COUNTRY_DEFAULT'));
$payment = Module::getInstanceByName('ps_checkpayment');
$carrier = (int) Configuration::get('PS_CARRIER_DEFAULT');
$france = Country::getByIso('FR');
// physical products without combinations
$products = [];
foreach (Db::getInstance()->executeS('SELECT id_product FROM ' . _DB_PREFIX_ . 'product WHERE active = 1 AND is_virtual = 0 ORDER BY id_product') as $row) {
    $id = (int) $row['id_product'];
    if (!Product::getProductAttributesIds($id)) {
        $products[] = $id;
        StockAvailable::setQuantity($id, 0, 1000000); // the demo's stock runs out after a few hundred orders
    }
}
function letters($n) { $s = ''; do { $s = chr(97 + $n % 26) . $s; $n = intdiv($n, 26); } while ($n > 0); return $s; }
$later = [[2], [2, 4], [2, 4, 5], [10], [2, 6], [2, 5], [2, 4, 5]]; // accepted, shipped, delivered, bank wire, canceled
$started = microtime(true);
$made = 0; $customers = 0; $failed = 0; $n = $first;
while ($made < $wanted) {
    $c = new Customer();
    $c->firstname = 'Bench'; $c->lastname = 'Client' . letters($n); // names take no digits
    $c->email = "bench.ps{$n}@example.org";
    $c->passwd = Tools::hash('pw-bench-' . $n);
    $c->id_lang = 1; $c->id_gender = 1 + $n % 2; $c->is_guest = (int) ($n % 4 == 0);
    $c->newsletter = (int) ($n % 3 == 0); $c->optin = 0;
    $c->id_default_group = $c->is_guest ? 2 : 3; $c->active = 1;
    $c->add();
    $c->addGroups([$c->id_default_group]);
    $customers++;
    $a = new Address();
    $a->id_customer = $c->id; $a->id_country = $france; $a->alias = 'Maison';
    $a->firstname = $c->firstname; $a->lastname = $c->lastname; $a->address1 = $n . ' rue des Lilas';
    $a->postcode = '69001'; $a->city = 'Lyon'; $a->phone_mobile = sprintf('06%08d', $n % 100000000);
    $a->add();
    for ($k = 0; $k < 3 && $made < $wanted; $k++, $made++) {
        $cart = new Cart();
        $cart->id_customer = $c->id; $cart->id_address_delivery = $a->id; $cart->id_address_invoice = $a->id;
        $cart->id_currency = $ctx->currency->id; $cart->id_lang = 1; $cart->id_shop = 1; $cart->id_shop_group = 1;
        $cart->id_carrier = $carrier; $cart->secure_key = $c->secure_key;
        $cart->add();
        $ctx->cart = $cart; $ctx->customer = $c;
        for ($i = 0; $i <= ($made % 3); $i++) { $cart->updateQty(1 + $i, $products[($made + $i * 7) % count($products)]); }
        $cart->setDeliveryOption([$a->id => $carrier . ',']);
        $cart->update();
        $states = $later[$made % count($later)];
        $total = (float) $cart->getOrderTotal(true, Cart::BOTH);
        try {
            $payment->validateOrder((int) $cart->id, array_shift($states), $total, 'Payment by check', null, [], null, false, $c->secure_key);
            $order = new Order((int) $payment->currentOrder);
            foreach ($states as $s) {
                $h = new OrderHistory(); $h->id_order = $order->id; $h->id_employee = 1;
                $h->changeIdOrderState($s, $order, true); $h->add();
                $order = new Order($order->id);
            }
        } catch (Throwable $e) {
            $failed++; // counted; too many end the run
            if ($failed > max(10, $wanted / 20)) {
                Configuration::updateValue('PS_INVOICE', $invoices);
                fwrite(STDERR, $e->getMessage() . "\n");
                exit(1);
            }
        }
    }
    $n++;
}
Configuration::updateValue('PS_INVOICE', $invoices);
echo json_encode(['orders' => $made, 'customers' => $customers, 'next' => $n, 'failed' => $failed, 'seconds' => round(microtime(true) - $started, 1)]), "\n";
