<?xml version="1.0" encoding="UTF-8"?>
<!--
  Amazon orders (Orders API v2026-01-01, rendered as amazon_orders.xml) to Zynk XML sales orders.

  Parameters are the Zynk template's. Money is handled in whole pence so that XSLT 1.0's
  floating point never drifts. Amazon's amounts are decimal strings, and a double does not hold
  most of them exactly (1.005 is 1.00499999...), so each amount is first taken in whole millionths
  (exact for up to 6 decimals) and then rounded half up to pence by integer arithmetic. For each line
  the VAT-inclusive gross G (unit price x quantity less item promotions) is split into net
  N = round(G x 100 / (100 + TaxRate)) and tax G - N.
  Carriage is split the same way. So in Sage, lines + carriage (net + tax) equal what the
  buyer was charged, to the penny, and PaymentAmount carries that charge for the import to check.

  Orders without prices (PENDING) are still mapped, without money elements; the import skips
  them by their Status.

  Several marketplaces: MarketplaceAccounts, MarketplaceTaxCodes and MarketplaceTaxRates are tables
  ";key=value;key=value;" (the product builds them from its settings). An order takes its account
  by its marketplace id, else by its currency, else AccountReference; its tax code and VAT rate by
  its marketplace id, else TaxCode and TaxRate. Amounts stay in the order's currency: the import
  converts them to the company's base currency at Sage's own rate. FBANominalCode, when set, is the
  nominal code of the item lines of orders Amazon fulfils.

  Lines whose VAT Amazon collected and remits itself (tax collection model MARKETPLACE_FACILITATOR)
  carry no output VAT for the seller: they take FacilitatorTaxCode at 0%, and their amount is what
  the seller's proceeds show for the item (its ITEM breakdown), the buyer's price before Amazon's tax.
  Carriage is treated so when every item of the order is. Amazon's own tax breakdowns on such lines
  are left out of PaymentAmount.

  Items Amazon has cancelled on an order that goes on (an item's cancellation/cancellationExecution,
  its order not CANCELLED) are not order lines: the buyer is not charged for them and they must not
  be picked. They are listed under CancelledItems (a product extension of the Zynk record) for the
  import to report, and to mark in Sage when the order is already there. Carriage and Amazon's tax
  are summed over the items that remain, and PaymentAmount is Amazon's grandTotal, which counts only
  those; where Amazon's total and the lines disagree, the import fails the order with both figures.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <xsl:output method="xml" encoding="utf-8" indent="yes"/>

  <xsl:param name="AccountReference" select="'AMAZON'"/>
  <xsl:param name="TaxCode" select="'1'"/>
  <xsl:param name="TaxRate" select="'20'"/>
  <xsl:param name="NominalCode" select="'4000'"/>
  <xsl:param name="CarriageCode" select="'CARRIAGE'"/>
  <xsl:param name="CarriageNominalCode" select="'4905'"/>
  <xsl:param name="TakenBy" select="'Amazon'"/>
  <xsl:param name="VATInclusiveItem" select="'true'"/>
  <xsl:param name="VATInclusiveCarriage" select="'true'"/>
  <xsl:param name="BankAccount" select="'1200'"/>
  <xsl:param name="AddPaymentDetails" select="'true'"/>
  <xsl:param name="MarketplaceAccounts" select="''"/>
  <xsl:param name="MarketplaceTaxCodes" select="''"/>
  <xsl:param name="MarketplaceTaxRates" select="''"/>
  <xsl:param name="FBANominalCode" select="''"/>
  <xsl:param name="FacilitatorTaxCode" select="'9'"/>
  <!-- 1 when prices include VAT, else 0: one arithmetic expression nets either way, no template calls. -->
  <xsl:variable name="item-inc" select="number($VATInclusiveItem = 'true')"/>
  <xsl:variable name="carriage-inc" select="number($VATInclusiveCarriage = 'true')"/>

  <xsl:template match="/">
    <Company>
      <SalesOrders>
        <xsl:apply-templates select="Orders/Order"/>
      </SalesOrders>
    </Company>
  </xsl:template>

  <!-- Money is kept in whole pence: an amount A is floor((round(A x 1000000) + 5000) div 10000). Net of a gross G: round(G x 100 / (100 + rate x inc)), which is G itself
       when inc = 0 (net prices). Tax: G - net when inclusive, else round(net x rate / 100). -->

  <xsl:template name="contact">
    <xsl:param name="address"/>
    <xsl:param name="company"/>
    <xsl:param name="email"/>
    <Forename><xsl:value-of select="$address/name"/></Forename>
    <Company>
      <xsl:choose>
        <xsl:when test="string($company) != ''"><xsl:value-of select="$company"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="$address/name"/></xsl:otherwise>
      </xsl:choose>
    </Company>
    <Address1><xsl:value-of select="$address/addressLine1"/></Address1>
    <Address2><xsl:value-of select="$address/addressLine2"/></Address2>
    <Address3><xsl:value-of select="$address/addressLine3"/></Address3>
    <Town><xsl:value-of select="$address/city"/></Town>
    <Postcode><xsl:value-of select="$address/postalCode"/></Postcode>
    <County>
      <xsl:choose>
        <xsl:when test="string($address/stateOrRegion) != ''"><xsl:value-of select="$address/stateOrRegion"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="$address/districtOrCounty"/></xsl:otherwise>
      </xsl:choose>
    </County>
    <Country><xsl:value-of select="$address/countryCode"/></Country>
    <Telephone><xsl:value-of select="$address/phone"/></Telephone>
    <xsl:if test="string($email) != ''"><Email><xsl:value-of select="$email"/></Email></xsl:if>
  </xsl:template>

  <xsl:template match="Order">
    <xsl:variable name="address" select="recipient/deliveryAddress"/>
    <!-- The buyer's company name when given, else the delivery address's. Selected as nodes rather than built
         with xsl:choose, because a variable with content costs a temporary tree per order. -->
    <xsl:variable name="company"
                  select="buyer/buyerCompanyName[string(.) != '']
                          | $address/companyName[string(current()/buyer/buyerCompanyName) = '']"/>
    <xsl:variable name="currency" select="(proceeds/grandTotal/currencyCode | orderItems/product/price/unitPrice/currencyCode)[1]"/>
    <xsl:variable name="priced" select="count(orderItems[product/price/unitPrice/amount]) = count(orderItems)"/>
    <xsl:variable name="mkt" select="concat(';', salesChannel/marketplaceId, '=')"/>
    <!-- Table look-ups; substring(x, 1 div (y = '')) is x when y is empty, else '' (a choice without a temporary
         tree). -->
    <xsl:variable name="account-by-mkt" select="substring-before(substring-after($MarketplaceAccounts, $mkt), ';')"/>
    <xsl:variable name="account-by-currency"
                  select="substring-before(substring-after($MarketplaceAccounts, concat(';', $currency, '=')), ';')"/>
    <xsl:variable name="account"
                  select="concat($account-by-mkt, substring(concat($account-by-currency,
                          substring($AccountReference, 1 div ($account-by-currency = ''))), 1 div ($account-by-mkt = '')))"/>
    <xsl:variable name="code-by-mkt" select="substring-before(substring-after($MarketplaceTaxCodes, $mkt), ';')"/>
    <xsl:variable name="tax-code" select="concat($code-by-mkt, substring($TaxCode, 1 div ($code-by-mkt = '')))"/>
    <xsl:variable name="rate-by-mkt" select="substring-before(substring-after($MarketplaceTaxRates, $mkt), ';')"/>
    <xsl:variable name="tax-rate" select="concat($rate-by-mkt, substring($TaxRate, 1 div ($rate-by-mkt = '')))"/>
    <xsl:variable name="rate" select="number($tax-rate)"/>
    <xsl:variable name="cancelling" select="fulfillment/fulfillmentStatus != 'CANCELLED'"/>
    <!-- The order's lines: all of a cancelled order's (the import only reads its status), else those Amazon has not
         cancelled. -->
    <xsl:variable name="items" select="orderItems[not($cancelling and cancellation/cancellationExecution)]"/>
    <SalesOrder>
      <Id><xsl:value-of select="orderId"/></Id>
      <CustomerId><xsl:value-of select="orderId"/></CustomerId>
      <CustomerOrderNumber><xsl:value-of select="orderId"/></CustomerOrderNumber>
      <Notes1><xsl:value-of select="salesChannel/marketplaceName"/></Notes1>
      <xsl:if test="string(buyer/buyerPurchaseOrderNumber) != ''">
        <Notes2>PO <xsl:value-of select="buyer/buyerPurchaseOrderNumber"/></Notes2>
      </xsl:if>
      <Currency><xsl:value-of select="$currency"/></Currency>
      <AccountReference><xsl:value-of select="$account"/></AccountReference>
      <CurrencyUsed><xsl:value-of select="string($currency) != '' and string($currency) != 'GBP'"/></CurrencyUsed>
      <SalesOrderDate><xsl:value-of select="createdTime"/></SalesOrderDate>
      <xsl:if test="$address">
        <SalesOrderAddress>
          <xsl:call-template name="contact">
            <xsl:with-param name="address" select="$address"/>
            <xsl:with-param name="company" select="$company"/>
            <xsl:with-param name="email" select="buyer/buyerEmail"/>
          </xsl:call-template>
        </SalesOrderAddress>
        <SalesOrderDeliveryAddress>
          <xsl:call-template name="contact">
            <xsl:with-param name="address" select="$address"/>
            <xsl:with-param name="company" select="$address/companyName"/>
            <xsl:with-param name="email" select="''"/>
          </xsl:call-template>
        </SalesOrderDeliveryAddress>
      </xsl:if>
      <SalesOrderItems>
        <xsl:apply-templates select="$items">
          <xsl:with-param name="rate" select="$rate"/>
          <xsl:with-param name="tax-rate" select="$tax-rate"/>
          <xsl:with-param name="tax-code" select="$tax-code"/>
          <xsl:with-param name="nominal-code"
                          select="concat(substring($FBANominalCode, 1 div (fulfillment/fulfilledBy = 'AMAZON')),
                                  substring($NominalCode, 1 div not(fulfillment/fulfilledBy = 'AMAZON'
                                                                    and $FBANominalCode != '')))"/>
        </xsl:apply-templates>
      </SalesOrderItems>
      <xsl:variable name="shipping"
                    select="floor((round(sum($items/proceeds/breakdowns[type='SHIPPING']/subtotal/amount) * 1000000) + 5000) div 10000)"/>
      <xsl:variable name="shipping-discount"
                    select="floor((round(-sum($items/proceeds/breakdowns[type='DISCOUNT']/detailedBreakdowns[subtype='SHIPPING']/value/amount) * 1000000) + 5000) div 10000)"/>
      <xsl:variable name="carriage" select="$shipping - $shipping-discount"/>
      <xsl:variable name="carriage-mf" select="number(not($items[not(tax/taxCollections/model = 'MARKETPLACE_FACILITATOR')]))"/>
      <xsl:variable name="carriage-rate" select="$rate * (1 - $carriage-mf)"/>
      <xsl:if test="$priced and $carriage != 0">
        <xsl:variable name="net" select="round($carriage * 100 div (100 + $carriage-rate * $carriage-inc))"/>
        <xsl:variable name="tax" select="($carriage - $net) * $carriage-inc + round($net * $carriage-rate div 100) * (1 - $carriage-inc)"/>
        <Carriage>
          <Sku><xsl:value-of select="$CarriageCode"/></Sku>
          <Name><xsl:value-of select="fulfillment/fulfillmentServiceLevel"/></Name>
          <QtyOrdered>1</QtyOrdered>
          <UnitPrice><xsl:value-of select="format-number($net div 100, '0.00')"/></UnitPrice>
          <TaxRate><xsl:value-of select="concat(substring($tax-rate, 1 div ($carriage-mf = 0)), substring('0', 1 div $carriage-mf))"/></TaxRate>
          <TotalNet><xsl:value-of select="format-number($net div 100, '0.00')"/></TotalNet>
          <TotalTax><xsl:value-of select="format-number($tax div 100, '0.00')"/></TotalTax>
          <TaxCode><xsl:value-of select="concat(substring($tax-code, 1 div ($carriage-mf = 0)), substring($FacilitatorTaxCode, 1 div $carriage-mf))"/></TaxCode>
          <NominalCode><xsl:value-of select="$CarriageNominalCode"/></NominalCode>
        </Carriage>
      </xsl:if>
      <TakenBy><xsl:value-of select="$TakenBy"/></TakenBy>
      <xsl:if test="$AddPaymentDetails = 'true' and proceeds/grandTotal/amount">
        <PaymentRef>Amazon</PaymentRef>
        <xsl:variable name="amazons-tax" select="$items[tax/taxCollections/model = 'MARKETPLACE_FACILITATOR']/proceeds/breakdowns[type='TAX']/subtotal/amount"/>
        <xsl:choose>
          <xsl:when test="$amazons-tax">
            <PaymentAmount><xsl:value-of select="format-number((floor((round(number(proceeds/grandTotal/amount) * 1000000) + 5000) div 10000) - floor((round(sum($amazons-tax) * 1000000) + 5000) div 10000)) div 100, '0.00')"/></PaymentAmount>
          </xsl:when>
          <xsl:otherwise>
            <PaymentAmount><xsl:value-of select="proceeds/grandTotal/amount"/></PaymentAmount>
          </xsl:otherwise>
        </xsl:choose>
        <BankAccount><xsl:value-of select="$BankAccount"/></BankAccount>
        <PaymentType>SalesReceipt</PaymentType>
      </xsl:if>
      <Status><xsl:value-of select="fulfillment/fulfillmentStatus"/></Status>
      <!-- A cancellation the buyer asked for on an order not yet cancelled: the import lists it as needing attention
           (a product extension of the Zynk record). -->
      <xsl:variable name="request" select="$items/cancellation/cancellationRequest[requester]"/>
      <xsl:if test="$request and fulfillment/fulfillmentStatus != 'CANCELLED'">
        <CancellationRequest><xsl:value-of select="$request[1]/requester"/><xsl:if test="$request[1]/cancelReason">: <xsl:value-of select="$request[1]/cancelReason"/></xsl:if></CancellationRequest>
      </xsl:if>
      <xsl:variable name="cancelled-items" select="orderItems[$cancelling and cancellation/cancellationExecution]"/>
      <xsl:if test="$cancelled-items">
        <CancelledItems>
          <xsl:for-each select="$cancelled-items">
            <Item>
              <Id><xsl:value-of select="orderItemId"/></Id>
              <Sku><xsl:value-of select="product/sellerSku"/></Sku>
              <QtyOrdered><xsl:value-of select="quantityOrdered"/></QtyOrdered>
              <CancelledBy><xsl:value-of select="cancellation/cancellationExecution/cancelledBy"/></CancelledBy>
              <Reason><xsl:value-of select="cancellation/cancellationExecution/cancelReason"/></Reason>
            </Item>
          </xsl:for-each>
        </CancelledItems>
      </xsl:if>
    </SalesOrder>
  </xsl:template>

  <xsl:template match="orderItems">
    <xsl:param name="rate"/>
    <xsl:param name="tax-rate"/>
    <xsl:param name="tax-code"/>
    <xsl:param name="nominal-code"/>
    <xsl:variable name="qty" select="number(quantityOrdered)"/>
    <!-- 1 when Amazon collects this line's VAT as marketplace facilitator, else 0. -->
    <xsl:variable name="mf" select="number(boolean(tax/taxCollections[model = 'MARKETPLACE_FACILITATOR']))"/>
    <xsl:variable name="line-rate" select="$rate * (1 - $mf)"/>
    <Item>
      <Id><xsl:value-of select="orderItemId"/></Id>
      <Sku><xsl:value-of select="product/sellerSku"/></Sku>
      <Name><xsl:value-of select="product/title"/></Name>
      <xsl:if test="promotion/breakdowns/promotionId">
        <Comments>Promotion <xsl:value-of select="promotion/breakdowns/promotionId"/></Comments>
      </xsl:if>
      <QtyOrdered><xsl:value-of select="quantityOrdered"/></QtyOrdered>
      <xsl:if test="product/price/unitPrice/amount">
        <xsl:variable name="unit" select="floor((round(number(product/price/unitPrice/amount) * 1000000) + 5000) div 10000)"/>
        <xsl:variable name="discount-breakdowns" select="proceeds/breakdowns[type='DISCOUNT']"/>
        <!-- Item promotions: the ITEM parts of detailed DISCOUNT breakdowns, or a DISCOUNT subtotal given
             without details (one node-set, no temporary tree). -->
        <xsl:variable name="discount"
                      select="floor((round(-sum($discount-breakdowns/detailedBreakdowns[subtype='ITEM']/value/amount
                                                | $discount-breakdowns[not(detailedBreakdowns)]/subtotal/amount) * 1000000)
                                     + 5000) div 10000)"/>
        <!-- A facilitated line's amount is the seller's ITEM proceeds (the price before Amazon's tax), when given. -->
        <xsl:variable name="item-proceeds" select="proceeds/breakdowns[type='ITEM']/subtotal/amount"/>
        <xsl:variable name="from-proceeds" select="$mf * number(boolean($item-proceeds))"/>
        <xsl:variable name="full-gross"
                      select="$unit * $qty * (1 - $from-proceeds)
                              + floor((round(sum($item-proceeds) * 1000000) + 5000) div 10000) * $from-proceeds"/>
        <xsl:variable name="gross" select="$full-gross - $discount"/>
        <xsl:variable name="full-net" select="round($full-gross * 100 div (100 + $line-rate * $item-inc))"/>
        <xsl:variable name="net" select="round($gross * 100 div (100 + $line-rate * $item-inc))"/>
        <xsl:variable name="unit-net" select="round(($unit * (1 - $from-proceeds) + $full-gross div $qty * $from-proceeds) * 100 div (100 + $line-rate * $item-inc))"/>
        <xsl:variable name="tax" select="($gross - $net) * $item-inc + round($net * $line-rate div 100) * (1 - $item-inc)"/>
        <UnitPrice><xsl:value-of select="format-number($unit-net div 100, '0.00')"/></UnitPrice>
        <xsl:if test="$full-net - $net != 0">
          <UnitDiscountAmount><xsl:value-of select="format-number(($full-net - $net) div $qty div 100, '0.########')"/></UnitDiscountAmount>
        </xsl:if>
        <TaxRate><xsl:value-of select="concat(substring($tax-rate, 1 div ($mf = 0)), substring('0', 1 div $mf))"/></TaxRate>
        <TotalNet><xsl:value-of select="format-number($net div 100, '0.00')"/></TotalNet>
        <TotalTax><xsl:value-of select="format-number($tax div 100, '0.00')"/></TotalTax>
      </xsl:if>
      <TaxCode><xsl:value-of select="concat(substring($tax-code, 1 div ($mf = 0)), substring($FacilitatorTaxCode, 1 div $mf))"/></TaxCode>
      <NominalCode><xsl:value-of select="$nominal-code"/></NominalCode>
    </Item>
  </xsl:template>
</xsl:stylesheet>
